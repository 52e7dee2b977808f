"""When a failover, drill or drain may end: every step terminal, and replicas that found no
room retried until the operation has been quiet for the settle time."""

from __future__ import annotations

from fed.v1 import types_pb2
from proxy.controllers.failover import may_end

Step = types_pb2.OperationStep


def operation(*steps: Step) -> types_pb2.Operation:
    return types_pb2.Operation(steps=list(steps))


def step(phase: types_pb2.StepPhase.ValueType, refused: bool = False) -> Step:
    return Step(workload="apps/web", phase=phase, refused=refused)


DONE, FAILED = types_pb2.STEP_PHASE_DONE, types_pb2.STEP_PHASE_FAILED


def test_an_operation_with_a_step_still_moving_does_not_end() -> None:
    moving = operation(step(DONE), step(types_pb2.STEP_PHASE_RESERVED))
    assert not may_end(moving, quiet_s=3600.0, settle_s=30.0)


def test_an_operation_whose_steps_all_moved_ends_at_once() -> None:
    moved = operation(step(DONE), step(types_pb2.STEP_PHASE_SKIPPED))
    assert may_end(moved, quiet_s=0.0, settle_s=30.0)


def test_replicas_that_found_no_room_are_retried_until_the_operation_is_quiet() -> None:
    short = operation(step(DONE), step(FAILED))
    assert not may_end(short, quiet_s=29.9, settle_s=30.0)
    assert may_end(short, quiet_s=30.0, settle_s=30.0)


def test_a_move_given_up_because_its_target_refused_does_not_wait() -> None:
    refused = operation(step(DONE), step(FAILED, refused=True))
    assert may_end(refused, quiet_s=0.0, settle_s=30.0)
