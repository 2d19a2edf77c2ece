"""A HITL request's form as a Slack modal (pure rules of core/hitl.py): which params have a Slack
input, the modal Slack accepts (slack_sdk's Block Kit models, Slack's limits), nothing from the run as
markup, and the submitted state read back typed as the params' schemas say."""

from __future__ import annotations

import json

import pytest
from slack_sdk.models.views import View

from airflow_slack_gate.core.hitl import (
    ANSWER_BLOCK,
    FIELD_ACTION,
    FIELD_BLOCK_PREFIX,
    FORM_ACTION,
    FORM_CALLBACK,
    FORM_OPTION_ACTION,
    FORM_OPTION_BLOCK,
    MAX_MODAL_BLOCKS,
    form_field,
    form_fields,
    form_modal,
    form_options,
    form_values,
    hitl_message,
)
from tests.test_messages import assert_valid_block_kit


def param(value, description=None, **schema):
    return {"value": value, "description": description, "schema": schema, "source": "task"}


PARAMS = {
    "replicas": param(2, "<!channel> 1 to 10", type="integer", minimum=1, maximum=10),
    "ratio": param(0.5, type="number"),
    "note": param("<!here>", type="string"),
    "story": param(None, type="string", format="multiline"),
    "region": param("eu", type="string", enum=["eu", "us"], title="<@U1> Region"),
    "dry_run": param(False, type="boolean"),
}


def test_each_param_type_gets_its_slack_input():
    kinds = {field.key: field.kind for field in form_fields(PARAMS)}
    assert kinds == {
        "replicas": "integer",
        "ratio": "number",
        "note": "string",
        "story": "multiline",
        "region": "enum",
        "dry_run": "boolean",
    }


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "object"},
        {"type": "array", "items": {"type": "string"}},
        {"type": "string", "format": "date-time"},
        {"type": ["null", "string"]},
        {"type": "null"},
        {},
        {"type": "string", "enum": [{"a": 1}]},
        {"type": "string", "enum": [str(i) for i in range(101)]},
        {"type": "string", "enum": []},
        {"type": "integer", "const": 1},
        {"type": "integer", "format": "int32"},
    ],
)
def test_a_param_without_a_slack_input_sends_the_whole_form_to_airflow(schema):
    assert form_field("x", {"value": None, "schema": schema}) is None
    assert form_fields({**PARAMS, "x": {"value": None, "schema": schema}}) is None


def test_too_many_params_or_a_name_too_long_for_a_block_id_go_to_airflow():
    many = {f"p{i}": param("", type="string") for i in range(MAX_MODAL_BLOCKS)}
    assert form_fields(many) is None
    assert form_fields({"x" * (256 - len(FIELD_BLOCK_PREFIX)): param("", type="string")}) is None
    assert form_fields({"x" * (255 - len(FIELD_BLOCK_PREFIX)): param("", type="string")}) is not None


def modal(options=("OK",), multiple=False, params=PARAMS):
    return form_modal(
        channel="C1",
        ts="1.2",
        subject="Scale <!channel>?",
        fields=form_fields(params),
        options=list(options),
        multiple=multiple,
    )


def test_the_modal_is_one_slack_accepts_and_shows_the_params_values():
    view = modal(options=["Approve", "Reject"])
    parsed = View(**view)
    parsed.validate_json()
    assert parsed.to_dict() == view
    assert len(view["title"]["text"]) <= 24
    assert json.loads(view["private_metadata"]) == {"channel": "C1", "ts": "1.2"}
    assert view["callback_id"] == FORM_CALLBACK
    inputs = {b["block_id"]: b for b in view["blocks"] if b["type"] == "input"}
    replicas = inputs[f"{FIELD_BLOCK_PREFIX}replicas"]["element"]
    assert replicas == {
        "type": "number_input",
        "action_id": FIELD_ACTION,
        "is_decimal_allowed": False,
        "initial_value": "2",
    }
    assert inputs[f"{FIELD_BLOCK_PREFIX}ratio"]["element"]["is_decimal_allowed"] is True
    assert inputs[f"{FIELD_BLOCK_PREFIX}story"]["element"]["multiline"] is True
    region = inputs[f"{FIELD_BLOCK_PREFIX}region"]["element"]
    assert region["type"] == "static_select"
    assert region["initial_option"]["value"] == "0"
    dry_run = inputs[f"{FIELD_BLOCK_PREFIX}dry_run"]["element"]
    assert [o["text"]["text"] for o in dry_run["options"]] == ["true", "false"]
    assert dry_run["initial_option"]["text"]["text"] == "false"
    choice = inputs[FORM_OPTION_BLOCK]["element"]
    assert (choice["type"], [o["value"] for o in choice["options"]]) == ("static_select", ["0", "1"])


def test_a_single_option_needs_no_choice_and_several_are_checkboxes_when_multiple():
    assert FORM_OPTION_BLOCK not in json.dumps(modal())
    assert form_options(1, {}) == ["0"]
    view = modal(options=["eu", "us", "apac"], multiple=True)
    View(**view).validate_json()
    (choice,) = [b for b in view["blocks"] if b.get("block_id") == FORM_OPTION_BLOCK]
    assert choice["element"]["type"] == "checkboxes"


def test_nothing_from_the_run_is_markup_in_the_modal():
    """Labels, hints, options and initial values are plain_text, which Slack never turns into mentions
    or links; the subject (mrkdwn) is escaped."""
    view = modal()
    for block in view["blocks"]:
        if block["type"] == "input":
            assert block["label"]["type"] == "plain_text"
            assert block.get("hint", {"type": "plain_text"})["type"] == "plain_text"
            for option in block["element"].get("options", []):
                assert option["text"]["type"] == "plain_text"
    assert view["blocks"][0]["text"]["text"] == "*Scale &lt;!channel&gt;?*"
    assert "<!channel>" not in json.dumps(view["blocks"][0])


def test_the_message_shows_answer_in_slack_only_when_the_form_fits():
    common = {"subject": "s", "body": None, "options": ["OK"], "multiple": False, "link": "http://a/b"}
    shown = hitl_message(**common, has_params=True, form_in_slack=True)
    assert_valid_block_kit(shown)
    (answer,) = [b for b in shown["blocks"] if b.get("block_id") == ANSWER_BLOCK]
    assert [e["action_id"] for e in answer["elements"]] == [FORM_ACTION]
    linked = hitl_message(**common, has_params=True, form_in_slack=False)
    assert not [b for b in linked["blocks"] if b.get("block_id") == ANSWER_BLOCK]
    assert "answer it in Airflow" in json.dumps(linked)


def state(**values):
    return {"values": {f"{FIELD_BLOCK_PREFIX}{key}": {FIELD_ACTION: value} for key, value in values.items()}}


def test_submitted_values_are_typed_as_the_schemas_say():
    fields = form_fields(PARAMS)
    typed, errors = form_values(
        fields,
        state(
            replicas={"type": "number_input", "value": "3"},
            ratio={"type": "number_input", "value": "0.25"},
            note={"type": "plain_text_input", "value": None},
            story={"type": "plain_text_input", "value": "once\nupon"},
            region={"type": "static_select", "selected_option": {"value": "1"}},
            dry_run={"type": "static_select", "selected_option": {"value": "0"}},
        ),
    )
    assert errors == {}
    assert typed == {
        "replicas": 3,
        "ratio": 0.25,
        "note": "",
        "story": "once\nupon",
        "region": "us",
        "dry_run": True,
    }
    assert type(typed["replicas"]) is int


@pytest.mark.parametrize("value", ["3.5", "", None, "1e3", "nan", "0x10", "9" * 41])
def test_an_integer_that_is_none_is_an_inline_error(value):
    fields = [f for f in form_fields(PARAMS) if f.key == "replicas"]
    typed, errors = form_values(fields, state(replicas={"type": "number_input", "value": value}))
    assert typed == {}
    assert list(errors) == [f"{FIELD_BLOCK_PREFIX}replicas"]


def test_a_forged_choice_is_an_inline_error_and_the_options_block_is_read():
    fields = [f for f in form_fields(PARAMS) if f.key == "region"]
    _, errors = form_values(
        fields, state(region={"type": "static_select", "selected_option": {"value": "2"}})
    )
    assert list(errors) == [f"{FIELD_BLOCK_PREFIX}region"]
    chosen = {"values": {FORM_OPTION_BLOCK: {FORM_OPTION_ACTION: {"selected_options": [{"value": "2"}]}}}}
    assert form_options(3, chosen) == ["2"]
    assert form_options(3, {"values": {}}) == []


def test_the_emulator_submits_each_input_as_slack_shapes_its_state():
    """view_submission's ``state.values`` per element type (Slack's ViewStateValue): plain_text_input
    and number_input a ``value`` string (``None`` when empty), static_select a ``selected_option`` (the
    option object), checkboxes ``selected_options``; untouched inputs keep their initial values, and
    a required input cannot be submitted empty. Read back by ``form_values`` as typed values."""
    from airflow_slack_gate.testing.emulator.interactivity import _input_values
    from airflow_slack_gate.testing.emulator.state import EmulatorError

    view = modal(options=["a", "b"], multiple=True)
    blocks = view["blocks"]
    values = _input_values(
        blocks,
        {f"{FIELD_BLOCK_PREFIX}replicas": "7", f"{FIELD_BLOCK_PREFIX}region": "us", FORM_OPTION_BLOCK: ["1"]},
    )
    assert values[f"{FIELD_BLOCK_PREFIX}replicas"] == {FIELD_ACTION: {"type": "number_input", "value": "7"}}
    assert values[f"{FIELD_BLOCK_PREFIX}ratio"] == {FIELD_ACTION: {"type": "number_input", "value": "0.5"}}
    assert values[f"{FIELD_BLOCK_PREFIX}story"] == {FIELD_ACTION: {"type": "plain_text_input", "value": None}}
    region = values[f"{FIELD_BLOCK_PREFIX}region"][FIELD_ACTION]
    assert (region["type"], region["selected_option"]["value"]) == ("static_select", "1")
    assert region["selected_option"]["text"]["text"] == "us"
    ticked = values[FORM_OPTION_BLOCK][FORM_OPTION_ACTION]
    assert (ticked["type"], [o["value"] for o in ticked["selected_options"]]) == ("checkboxes", ["1"])
    typed, errors = form_values(form_fields(PARAMS), {"values": values})
    assert (errors, typed["replicas"], typed["region"], typed["dry_run"]) == ({}, 7, "us", False)
    assert form_options(2, {"values": values}) == ["1"]
    with pytest.raises(EmulatorError, match="required"):
        _input_values(blocks, {f"{FIELD_BLOCK_PREFIX}replicas": None})
