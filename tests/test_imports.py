"""Heavy imports run with Python's cyclic collector paused, and leave it as it was."""

import gc

from data_pipeline.imports import collector_paused


def test_the_collector_is_off_inside_and_on_again_after() -> None:
    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_a_collector_that_was_off_stays_off() -> None:
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_the_collector_is_back_on_when_an_import_fails() -> None:
    try:
        with collector_paused():
            import data_pipeline.no_such_module  # noqa: F401
    except ModuleNotFoundError:
        pass
    assert gc.isenabled()
