"""Form schemas (form-js JSON) and server-side validation of submissions.

``load_form`` reads a form-js document into a flat :class:`FormSchema`; ``validate_submission`` checks and
coerces submitted data against it, with Japanese messages by default (``messages("en")`` for English).
"""

from .schema import FieldSpec, FormSchema, FormSchemaError, Option, load_form
from .validation import MESSAGES, messages, translate, validate_submission

__all__ = [
    "MESSAGES",
    "FieldSpec",
    "FormSchema",
    "FormSchemaError",
    "Option",
    "load_form",
    "messages",
    "translate",
    "validate_submission",
]
