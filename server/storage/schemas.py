"""Shapes of the blob API: upload targets, completion, signed downloads."""
from marshmallow import Schema, fields, validate


class UploadPartSchema(Schema):
    part_number = fields.Integer(metadata={"description": "1-based part number"})
    size_bytes = fields.Integer(metadata={"description": "exact size this part must have"})
    url = fields.String(metadata={"description": "presigned PUT URL for this part"})


class UploadTargetSchema(Schema):
    id = fields.UUID()
    already_stored = fields.Boolean(metadata={"description": "true: nothing to upload, the photo is stored"})
    upload_state = fields.String()
    stored = fields.Boolean()
    sha256 = fields.String()
    size_bytes = fields.Integer()
    content_type = fields.String()
    method = fields.String(metadata={"description": "'put' (one PUT of the whole file to url) or 'multipart'"})
    url = fields.String(metadata={"description": "presigned PUT URL (method 'put')"})
    headers = fields.Dict(keys=fields.String(), values=fields.String(),
                          metadata={"description": "headers to send with the PUT"})
    expires_in_seconds = fields.Integer()
    upload_id = fields.String(metadata={"description": "multipart upload id"})
    part_size_bytes = fields.Integer()
    parts_done = fields.List(fields.Integer(), metadata={"description": "parts already uploaded: skip them"})
    parts = fields.List(fields.Nested(UploadPartSchema), metadata={"description": "parts still to upload"})


class CompleteSchema(Schema):
    id = fields.UUID()
    upload_state = fields.String(metadata={"description": "stored, or analysed once the analysis ran"})
    stored = fields.Boolean()
    sha256 = fields.String()
    size_bytes = fields.Integer()
    content_type = fields.String()


class DownloadQuerySchema(Schema):
    variant = fields.String(load_default="original", validate=validate.OneOf(["original", "overlay"]))


class DownloadSchema(Schema):
    url = fields.String(metadata={"description": "signed GET URL, valid for expires_in_seconds"})
    expires_in_seconds = fields.Integer()
    variant = fields.String()
    content_type = fields.String(allow_none=True)
