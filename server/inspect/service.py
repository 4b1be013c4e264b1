"""The inspections package's service API, one module per concern (this module only gathers them).

| concern | module |
|---|---|
| the rules: fields, who may write what in which state, status moves, the freeze | ``rules.py`` |
| who sees which inspection and checklist | ``scope.py`` |
| checklist templates and their versions | ``templates.py`` |
| AQL plans and switching per product stream | ``switching.py`` |
| creating, assigning, moving and overriding inspections | ``lifecycle.py`` |
| rows (API and sync alike): checked, normalised, derived | ``rows.py`` |
| verdicts recomputed from stored rows; the after-push step | ``verdicts.py`` |
| the audit trail | ``audit.py`` |
| registration with sync | ``sync.py`` |
"""
from __future__ import annotations

from .audit import audit_events, record_audit, user_name  # noqa: F401
from .lifecycle import (change_status, create_inspection, list_inspections, override_verdict,  # noqa: F401
                        update_inspection)
from .rows import (ROW_MODELS, delete_row, inspection_detail, measurement_summary,  # noqa: F401
                   prepare_sync_fields, upsert_row)
from .rules import COMPLETE_STATUSES, TRANSITIONS  # noqa: F401
from .scope import (inspection_or_404, po_of, template_or_404, visible_inspections,  # noqa: F401
                    visible_templates)
from .switching import (current_severity, effective_aqls, plans_for, switching_record,  # noqa: F401
                        switching_state_for)
from .templates import (GOLDEN_SAMPLE_SECTION, archive_template, copy_template, create_template,  # noqa: F401
                        edit_template, list_templates, normalise_sections, sync_batch, template_items)
from .verdicts import after_sync, live, recompute_verdict  # noqa: F401
