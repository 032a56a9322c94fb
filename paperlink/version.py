"""paperlink's version, in a module of its own so that any stage can name it without importing the
package's public API (``paperlink/__init__.py``), which sits above every stage."""

__version__ = "0.1.0"
