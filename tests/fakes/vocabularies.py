"""The licence and relation vocabularies the fake server accepts (a subset of Zenodo's)."""

LICENSES = {
    "cc-by-4.0",
    "cc0-1.0",
    "mit",
    "apache-2.0",
    "gpl-3.0-only",
    "bsd-3-clause",
    "cc-by-sa-4.0",
}
RELATIONS = {
    "isCitedBy", "cites", "isSupplementTo", "isSupplementedBy", "isNewVersionOf",
    "isPreviousVersionOf", "isPartOf", "hasPart", "references", "isReferencedBy", "isDerivedFrom",
    "isSourceOf", "requires", "isRequiredBy", "isDocumentedBy", "documents", "isCompiledBy", "compiles",
    "isIdenticalTo", "isAlternateIdentifier", "describes", "isDescribedBy",
}  # fmt: skip
