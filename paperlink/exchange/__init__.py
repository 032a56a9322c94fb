"""Records in and out of a store: ``store export|import`` (JSON files, JSON Lines) keyed on ``run_id``,
and Sumatra record stores brought over as paperlink records.
"""
