"""Our processing pipelines: pySigma's conversion of a rule for one variant of its log
source (soc.detect.logsources) onto citysoc's ECS events.

Each pipeline renames the rule's fields to the variant's ECS paths and adds the variant's
event conditions. The same pipeline feeds both backends. Lucene gets one more step: string
values are lower-cased, because keyword fields of the Elasticsearch store use a lowercase
normalizer and wildcard queries are not normalised by every server version. Unbound keywords
(``keywords:`` lists) become *contains* conditions on soc.detect.logsources.KEYWORD_FIELDS.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
from sigma.processing.transformations import (
    AddConditionTransformation,
    FieldMappingTransformation,
)
from sigma.processing.transformations.base import (
    DetectionItemTransformation,
    FieldMappingTransformationBase,
    ValueTransformation,
)
from sigma.rule import SigmaDetectionItem
from sigma.types import (
    SigmaCasedString,
    SigmaNull,
    SigmaRegularExpression,
    SigmaRegularExpressionFlag,
    SigmaString,
    SigmaType,
    SpecialChars,
)

from soc.detect.logsources import (
    UNNAMED_DATA_PATHS,
    WINDOWS_EVENT_DATA,
    WINDOWS_SYSTEM_FIELDS,
    Variant,
    is_ecs_name,
    keyword_fields,
    spaced_name,
)

#: The field an unbound keyword is bound to until the pipeline maps it onto the keyword
#: fields of the target (soc.detect.logsources.keyword_fields).
_KEYWORD_PLACEHOLDER = "citysoc.keywords"


@dataclass
class WindowsEventDataTransformation(FieldMappingTransformationBase):
    """Sigma Windows field X -> ``winlog.event_data.X`` (ECS names and the System fields,
    already mapped, are left alone); with ``spaced`` also the spaced spelling of X."""

    spaced: bool = False

    def apply_field_name(self, field: str | None) -> str | list[str] | None:
        """The event-data path(s) of a Windows field; None leaves the name alone."""
        if field is None or is_ecs_name(field):
            return None
        target = WINDOWS_EVENT_DATA + field
        if self.spaced:
            spaced = spaced_name(field)
            if spaced != field:
                return [target, WINDOWS_EVENT_DATA + spaced]
        return target


@dataclass
class KeywordsToFieldTransformation(DetectionItemTransformation):
    """Unbound values (Sigma ``keywords``) become *contains* matches on a placeholder field
    (mapped afterwards onto KEYWORD_FIELDS), so both backends treat them alike (SQLite has no
    full-text search over a whole row)."""

    target: str = _KEYWORD_PLACEHOLDER

    def apply_detection_item(self, detection_item: SigmaDetectionItem) -> SigmaDetectionItem | None:
        """Bind an unbound detection item to the keyword placeholder field."""
        if detection_item.field is not None:
            return None
        values: list[SigmaType] = []
        for value in detection_item.value:
            if isinstance(value, SigmaString) and not isinstance(value, SigmaCasedString):
                wrapped = value
                if not wrapped.startswith(SpecialChars.WILDCARD_MULTI):
                    wrapped = SpecialChars.WILDCARD_MULTI + wrapped
                if not wrapped.endswith(SpecialChars.WILDCARD_MULTI):
                    wrapped = wrapped + SpecialChars.WILDCARD_MULTI
                values.append(wrapped)
            else:
                values.append(value)
        detection_item.field = self.target
        detection_item.value = values
        return detection_item


@dataclass
class NullOrEmptyTransformation(DetectionItemTransformation):
    """Sigma's ``field: null`` means "the field has no value": it matches an event where the
    field is absent *or* empty (collectors and other tools store an empty EventData value as
    ``""``), so a null value gains an empty-string alternative."""

    def apply_detection_item(self, detection_item: SigmaDetectionItem) -> SigmaDetectionItem | None:
        """Add ``""`` beside a null value; None leaves other items alone."""
        values = detection_item.value
        if not any(isinstance(v, SigmaNull) for v in values):
            return None
        if any(isinstance(v, SigmaString) and not v.s for v in values):
            return None
        detection_item.value = [*values, SigmaString("")]
        return detection_item


_REGEX_LETTER = re.compile(r"(\\.)|([A-Z]+)")


def lowercase_regex(pattern: str) -> str:
    """A regex lower-cased for lower-cased keyword terms, escapes (``\\D``, ``\\S``...) kept."""
    return _REGEX_LETTER.sub(lambda m: m.group(1) or m.group(2).lower(), pattern)


_INLINE_FLAGS = re.compile(r"^\(\?[imsx]+\)")


def unanchored_lucene_regex(pattern: str) -> str:
    """Lucene regexps match whole terms, Sigma's ``|re`` searches anywhere in the value:
    wrap the pattern in ``.*(...).*`` unless it is anchored (``^``/``$``, which Lucene does
    not know and which are dropped). Inline flags such as ``(?i)`` are dropped too: values
    are lower-cased on both sides already."""
    body = _INLINE_FLAGS.sub("", pattern)
    head, tail = ".*(", ").*"
    if body.startswith("^"):
        body, head = body[1:], "("
    if body.endswith("$") and not body.endswith("\\$"):
        body, tail = body[:-1], ")"
    return f"{head}{body}{tail}"


@dataclass
class LowercaseValuesTransformation(ValueTransformation):
    """Lower-case string and regex values (not ``|cased`` ones): the Elasticsearch store's
    keyword fields are lower-cased by a normalizer, which wildcard and regexp queries do not
    always pass through."""

    def apply_value(
        self, field: str | None, val: SigmaString | SigmaRegularExpression
    ) -> SigmaType | None:
        """The lower-cased value (and unanchored regex), or None to keep it."""
        if isinstance(val, SigmaCasedString):
            return None
        if isinstance(val, SigmaString):
            return val.lower()
        if isinstance(val, SigmaRegularExpression):
            pattern = unanchored_lucene_regex(lowercase_regex(val.regexp.original))
            flags = {f for f in val.flags if f != SigmaRegularExpressionFlag.IGNORECASE}
            if pattern == val.regexp.original and flags == set(val.flags):
                return None
            return SigmaRegularExpression(pattern, flags)
        return None


@lru_cache(maxsize=256)
def variant_pipeline(variant: Variant, target: str) -> ProcessingPipeline:
    """The processing pipeline of one log-source variant for a backend target
    ("sqlite" or "lucene"): keywords -> event.original, field renames, Windows event data
    prefix, (Lucene) lower-casing, then the variant's event conditions."""
    items: list[ProcessingItem] = [
        ProcessingItem(identifier="citysoc_null", transformation=NullOrEmptyTransformation()),
        ProcessingItem(
            identifier="citysoc_keywords", transformation=KeywordsToFieldTransformation()
        ),
        ProcessingItem(
            identifier="citysoc_keyword_fields",
            transformation=FieldMappingTransformation(
                {_KEYWORD_PLACEHOLDER: keyword_fields(target)}
            ),
        ),
    ]
    renames = variant.field_map()
    if variant.windows:
        renames = {
            k: WINDOWS_SYSTEM_FIELDS.get(v, WINDOWS_EVENT_DATA + v) for k, v in renames.items()
        }
        renames.update({k: v for k, v in WINDOWS_SYSTEM_FIELDS.items() if k not in renames})
        renames.setdefault("Data", list(UNNAMED_DATA_PATHS))
    if renames:
        items.append(
            ProcessingItem(
                identifier="citysoc_fields", transformation=FieldMappingTransformation(renames)
            )
        )
    if variant.windows:
        items.append(
            ProcessingItem(
                identifier="citysoc_event_data",
                transformation=WindowsEventDataTransformation(spaced=variant.spaced_names),
            )
        )
    if target == "lucene":
        items.append(
            ProcessingItem(
                identifier="citysoc_lowercase", transformation=LowercaseValuesTransformation()
            )
        )
    if variant.conditions:
        items.append(
            ProcessingItem(
                identifier="citysoc_logsource",
                transformation=AddConditionTransformation(
                    variant.condition_dict(), name="citysoc_logsource"
                ),
            )
        )
    return ProcessingPipeline(name=f"citysoc {variant.name} ({target})", items=items)


__all__ = [
    "KeywordsToFieldTransformation",
    "LowercaseValuesTransformation",
    "NullOrEmptyTransformation",
    "WindowsEventDataTransformation",
    "lowercase_regex",
    "unanchored_lucene_regex",
    "variant_pipeline",
]
