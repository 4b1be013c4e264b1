"""Photo bytes and documents in storage, used by sync, inspections, review and the timeline.

- :mod:`.backends`: the storage interface and its two backends (a local folder, any S3 API);
- :mod:`.uploads`: the upload protocol for photos (targets, verified completion, signed downloads);
- :mod:`.routes`, :mod:`.schemas`: its HTTP endpoints;
- :mod:`.gc`, :mod:`.cli`: housekeeping (``purge-blobs``) and bucket setup (``storage-setup``).
"""
