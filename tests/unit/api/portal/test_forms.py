"""Endpoint forms read as the API's bodies, and every refusal mapped to its field."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from api.portal import forms
from api.schemas import WebhookCreate, WebhookPatch
from core.errors import InvalidInput
from core.models import Webhook
from core.validation import check_filter

FORM = {
    "url": " https://example.com/hook ",
    "description": "billing",
    "event_types": "order.created, invoice.*\n*",
    "filter": '{"data.amount": {"$gte": 50}}',
    "headers": "X-Team: billing\n\nX-Env: prod",
    "rate_limit": "10",
    "max_concurrency": "",
    "retry_schedule": "5, 60 600",
    "enabled": "on",
}


def test_a_filled_in_form_is_the_apis_body() -> None:
    body, errors = forms.webhook_body(FORM, create=True)
    assert errors == {}
    model = WebhookCreate.model_validate(body)
    assert model.url == "https://example.com/hook" and model.event_types == [
        "order.created",
        "invoice.*",
        "*",
    ]
    assert model.filter == {"data.amount": {"$gte": 50}} and model.headers == {
        "X-Team": "billing",
        "X-Env": "prod",
    }
    assert (model.rate_limit, model.max_concurrency, model.retry_schedule) == (10, None, [5.0, 60.0, 600.0])
    assert model.enabled and model.description == "billing"


def test_unreadable_fields_are_named() -> None:
    _, errors = forms.webhook_body(
        {**FORM, "filter": "{nope", "headers": "no colon", "rate_limit": "ten", "retry_schedule": "5, x"},
        create=True,
    )
    assert set(errors) == {"filter", "headers", "rate_limit", "retry_schedule"}
    _, errors = forms.webhook_body({**FORM, "filter": "[1]"}, create=True)
    assert "JSON object" in errors["filter"]


def test_the_apis_refusals_land_at_their_field() -> None:
    body, _ = forms.webhook_body({**FORM, "url": "ftp://x", "rate_limit": "0"}, create=True)
    with pytest.raises(ValidationError) as exc:
        WebhookCreate.model_validate(body)
    errors = forms.validation_errors(exc.value)
    assert set(errors) == {"url", "rate_limit"} and errors["url"].startswith("url: ")
    with pytest.raises(InvalidInput) as bad:
        check_filter({"data.x": {"$where": "1"}})
    mapped = forms.invalid_input(bad.value)
    assert list(mapped) == ["filter"] and "filter.data.x.$where" in mapped["filter"]


def test_an_edit_patches_only_what_changed() -> None:
    wh = Webhook(
        id="wh_1", org="o", url="https://example.com/hook", event_types=("order.created",), rate_limit=10
    )
    values = forms.form_values(forms.current_body(wh))
    body, errors = forms.webhook_body(values, create=False)
    assert errors == {} and forms.changed(body, wh) == {}
    body, _ = forms.webhook_body({**values, "rate_limit": "", "filter": '{"type": "x"}'}, create=False)
    patch = WebhookPatch.model_validate(forms.changed(body, wh))
    assert patch.model_fields_set == {"rate_limit", "filter"} and patch.rate_limit is None


def test_the_form_is_shown_again_as_it_was_typed() -> None:
    assert forms.typed({"url": "x", "junk": "y"}) == {**dict.fromkeys(forms.FIELDS, ""), "url": "x"}
