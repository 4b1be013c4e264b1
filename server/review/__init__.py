"""Brand review of flagged photos, colour and dimension drift alerts per batch, and their delivery (issue 6)."""
