"""The ground every stage stands on: records (dataclasses, canonical JSON) and the record store, digests
and the digest cache, configuration and the project, comparing records, plvalue values, package data,
safe archive names, secret redaction and public-URL checks. Imports nothing above it.
"""
