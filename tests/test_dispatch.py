"""Every dispatch on a step's or an operation's type ends in an error naming a type it does not know."""
from __future__ import annotations

import pytest

from newns.diagnostics import Where
from newns.explain import explain
from newns.linux.door import Door
from newns.interp import Interpreter
from newns.ops import Op
from newns.plan import Action, Plan, Settings, slots_used
from newns.record import Record


class Unknown(Record):
    """A step none of them has a handler for."""

    slot: int


def test_the_door_refuses_an_unknown_step():
    door = Door(debug=False, rootless=True)
    with pytest.raises(TypeError, match="the door has no handler for Unknown"):
        door.step(Unknown(slot=1))
    door.close()


def test_explain_refuses_an_unknown_step():
    action = Action(where=Where(file="f", line=1, col=1, text="x"), said="x", quiet=False, steps=[Unknown(slot=1)], op=0)
    plan = Plan(actions=[action], cwd="/", cwd_where=None, warnings=[], settings=Settings())
    with pytest.raises(TypeError, match="--explain has no handler for Unknown"):
        explain(plan, rootless=True, uid=1000, gid=1000)


def test_slots_used_refuses_an_unknown_step():
    with pytest.raises(TypeError, match="slots_used has no handler for Unknown"):
        slots_used(Unknown(slot=1))  # type: ignore[arg-type]


class Strange(Op):
    """An operation the interpreter has no handler for."""

    name = "strange"
    letters = ""
    shapes = ((),)


def test_the_interpreter_refuses_an_unknown_operation():
    with pytest.raises(TypeError, match="the interpreter has no handler for Strange"):
        Interpreter({}, "/", None).plan([Strange("", Where(file="f", line=1, col=1, text="strange"))])  # type: ignore[arg-type]
