"""The read-only web viewer (``paperlink serve``) and the pages it shares with the static site.

``pages`` turns records into page contexts and renders them with the jinja2 templates in
``templates/web``; ``app`` serves them over HTTP with the standard library's WSGI server;
:mod:`paperlink.site` writes the same pages to disk.
"""
