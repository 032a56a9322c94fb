"""The software a run used, as RO-Crate entities: its environment (packages by manager, with versions and
package URLs) and the container or SIF image it ran in."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from rocrate.model.contextentity import ContextEntity

from paperlink.core.envpackages import MANAGER_TITLES, Environment
from paperlink.core.records import Record
from paperlink.publish.crate_builder import WFRUN, CrateBuilder, CrateFile, one, public_repository

# Package URL types (https://github.com/package-url/purl-spec) by manager.
_PURL_TYPES = {"conda": "conda", "dpkg": "deb", "pip": "pypi", "r": "cran", "julia": "julia"}


def environment_entity(
    builder: CrateBuilder,
    record: Record,
    environment: Environment,
    mine: list[CrateFile],
    entities: dict[str, Any],
) -> ContextEntity:
    """The software environment a run used: a ``SoftwareApplication`` made of one ``Collection`` per
    manager, whose parts are the packages (``SoftwareApplication`` with ``softwareVersion``)."""
    digest = str(record.environment_digest)
    hexdigest = digest.removeprefix("sha256:")
    groups = []
    for manager in environment.managers():
        title = MANAGER_TITLES.get(manager, manager)
        packages = [
            builder.entity(
                page,
                "SoftwareApplication",
                name=p.name,
                url=page,
                softwareVersion=p.version + (f"={p.build}" if p.build else ""),
                identifier=purl(manager, p.name, p.version, p.build, p.architecture, p.uuid),
            )
            for p in environment.packages[manager]
            for page in [package_page(manager, p.name, p.version, p.build, p.architecture, p.url)]
        ]
        what = (
            f"conda environment '{environment.conda_name}'"
            if manager == "conda" and environment.conda_name
            else title
        )
        groups.append(
            builder.entity(
                f"#environment-{hexdigest[:12]}-{manager}",
                "Collection",
                name=f"{what}: {len(packages)} packages",
                hasPart=packages,
            )
        )
    # The archived environment (JSON) and the files that re-create it describe this entity.
    recipes = [entities[f.name] for f in mine if f.role in ("environment-json", "environment")]
    # As for the code: an address under the public repository when there is one (RO-Crate asks
    # software for an absolute URI), else a local identifier.
    repository = public_repository(record.code.remote)
    local = f"#environment-{hexdigest[:12]}"
    return builder.entity(
        f"{repository}{local}" if repository else local,
        "SoftwareApplication",
        name=f"software environment {digest}",
        description="the packages of the run's environment, by manager (paperlink env re-creates it)",
        softwareVersion=digest,
        identifier=digest,
        url=repository,
        hasPart=groups,
        subjectOf=one(recipes) if recipes else None,
    )


def package_page(
    manager: str,
    name: str,
    version: str,
    build: str | None,
    architecture: str | None,
    url: str | None,
) -> str:
    """An http address for a package version (RO-Crate asks software for one): where conda fetched it,
    else the index's page of the package with the version as fragment."""
    if url and url.startswith(("https://", "http://")):
        return url
    n, v = quote(name, safe=""), quote(version, safe="")
    if manager == "pip":
        return f"https://pypi.org/project/{n}/{v}/"
    if manager == "dpkg":
        return f"https://snapshot.debian.org/binary/{n}/#{v}" + (
            f"_{quote(architecture, safe='')}" if architecture else ""
        )
    if manager == "r":
        return f"https://cran.r-project.org/package={n}#{v}"
    if manager == "julia":
        return f"https://juliahub.com/ui/Packages/General/{n}#{v}"
    return f"https://anaconda.org/search?q={n}#{v}" + (f"={quote(build, safe='')}" if build else "")


def purl(
    manager: str,
    name: str,
    version: str,
    build: str | None,
    architecture: str | None,
    uuid: str | None = None,
) -> str:
    """The package URL (https://github.com/package-url/purl-spec) of a package (a Julia package's
    names its UUID, which its type asks for)."""
    kind = _PURL_TYPES.get(manager, manager)
    namespace = "debian/" if kind == "deb" else ""
    text = f"pkg:{kind}/{namespace}{quote(name, safe='')}@{quote(version, safe='')}"
    qualifiers = [f"arch={quote(architecture, safe='')}"] if architecture else []
    qualifiers += [f"build={quote(build, safe='')}"] if build else []
    qualifiers += [f"uuid={quote(uuid, safe='')}"] if uuid else []
    return text + ("?" + "&".join(qualifiers) if qualifiers else "")


def image_entity(
    builder: CrateBuilder, record: Record, mine: list[CrateFile], entities: dict[str, Any]
) -> ContextEntity | None:
    container = record.container
    if container is None or not (container.image_id or container.reference):
        return None
    registry, name, tag = split_reference(
        container.pinned_reference or container.reference or "", container.reference or ""
    )
    archive = [entities[f.name] for f in mine if f.role == "image"]
    if container.sif is not None:  # an Apptainer image: the SIF file is the image and its archive
        return builder.entity(
            f"#image-sha256:{container.sif.sha256}",
            "ContainerImage",
            additionalType={"@id": f"{WFRUN}SIFImage"},
            name=container.sif.path.rsplit("/", 1)[-1],
            sha256=container.sif.sha256,
            distribution=archive[0] if archive else None,
        )
    return builder.entity(
        f"#image-{quote(container.image_id or container.reference or '', safe=':/@-._~')}",
        "ContainerImage",
        additionalType={"@id": f"{WFRUN}DockerImage"},
        name=name or container.image_id,
        registry=registry,
        tag=tag,
        sha256=(container.image_id or "").removeprefix("sha256:") or None,
        distribution=archive[0] if archive else None,
    )


def split_reference(pinned: str, reference: str) -> tuple[str, str, str | None]:
    """``registry``, repository ``name`` and ``tag`` of an image reference (Docker's defaults:
    ``docker.io``, ``library/NAME``)."""
    text = (reference or pinned).split("@", 1)[0]
    tag = None
    last = text.rsplit("/", 1)[-1]
    if ":" in last:
        text, tag = text.rsplit(":", 1)
    first, slash, rest = text.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        return first, rest, tag
    if not text:
        return "docker.io", "", tag
    return "docker.io", text if slash else f"library/{text}", tag
