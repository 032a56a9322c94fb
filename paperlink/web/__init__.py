"""The read-only web viewer (``paperlink serve``) and the pages it shares with the static site.

``pages`` turns records into page contexts (``figures`` does the same for a manuscript's figures) and
renders them with the jinja2 templates in ``paperlink/templates/web``; ``links`` says where each page lives;
``app`` serves the pages over HTTP with the standard library's WSGI server; :mod:`paperlink.web.site`
writes them to disk.
"""
