"""Progress reporting and cancellation, one convention for every long engine call.

Every long operation takes ``progress`` and ``cancel`` arguments:

* ``progress``: ``None`` (silent), ``True`` (a bar: an HTML bar in Jupyter, a text line in a terminal),
  or a callable ``progress(done, total)``. Some operations pass extra keyword arguments (for example a
  render passes the current images); callables that do not accept them still work.
* ``cancel``: ``None`` or a :class:`CancelToken`. It is checked between units of work (batches, steps);
  a cancelled operation raises :class:`Cancelled` after restoring everything it touched.
"""
from __future__ import annotations

import inspect
import threading
from typing import Any, Callable, Optional, Union

ProgressArg = Union[None, bool, Callable[..., Any]]


class Cancelled(Exception):
    """Raised inside an engine call when its :class:`CancelToken` was cancelled."""


class CancelToken:
    """A thread-safe flag that a caller (often a widget's UI thread) sets to stop a running job.

    A token can also ask a long operation to *pause* so that other work can use the model meanwhile (a widget
    lets a layer's cheap views run before a long render goes on): a subclass overrides :meth:`should_pause` and
    :meth:`pause`. Operations that can pause (renders) ask between steps, with the model put back as found.
    """

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise Cancelled("the operation was cancelled")

    def should_pause(self) -> bool:
        """True when the owner wants the operation to pause at its next safe point (never, by default)."""
        return False

    def pause(self) -> None:
        """Called by a pausing operation that holds nothing on the model; returns when it may go on (at once, by
        default) and raises :class:`Cancelled` when the token is cancelled meanwhile."""
        self.raise_if_cancelled()


def validate_cancel(cancel: Any) -> Optional[CancelToken]:
    """``cancel`` if it is None or a :class:`CancelToken`; a TypeError that says how to make one otherwise."""
    if cancel is None or isinstance(cancel, CancelToken):
        return cancel
    what = "the class CancelToken itself" if cancel is CancelToken else type(cancel).__name__
    raise TypeError(f"cancel must be None or a CancelToken instance, not {what}: create one with "
                    "token = nw.CancelToken(), pass cancel=token, and call token.cancel() to stop.")


def check_cancel(cancel: Optional[CancelToken]) -> None:
    """Raise :class:`Cancelled` if ``cancel`` was cancelled (a TypeError if it is not a CancelToken)."""
    if validate_cancel(cancel) is not None:
        cancel.raise_if_cancelled()


class _Bar:
    """``progress=True``: a ``tqdm.auto`` bar (a notebook bar in Jupyter, a text line elsewhere), made on the first
    report and closed when ``done`` reaches ``total``."""

    def __init__(self, description: str) -> None:
        self.description = description
        self._bar: Any = None

    def __call__(self, done: int, total: int, **_: Any) -> None:
        from tqdm.auto import tqdm

        if self._bar is None:
            self._bar = tqdm(total=total, desc=self.description, leave=True)
        self._bar.total = total
        self._bar.n = done
        self._bar.refresh()
        if done >= total:
            self._bar.close()
            self._bar = None


def make_reporter(progress: ProgressArg, description: str = "working") -> Callable[..., None]:
    """Turn a ``progress`` argument into a callable ``report(done, total, **extra)``.

    A callable that cannot be called as ``progress(done, total)`` is refused here, before any work starts.
    """
    if progress is None or progress is False:
        return lambda done, total, **extra: None
    if progress is True:
        return _Bar(description)
    if isinstance(progress, type) or not callable(progress):
        what = f"the class {progress.__name__}" if isinstance(progress, type) else type(progress).__name__
        raise TypeError(f"progress must be None, True (a built-in bar) or a function progress(done, total), "
                        f"not {what}")
    try:
        signature: Optional[inspect.Signature] = inspect.signature(progress)
    except (TypeError, ValueError):  # some builtins have no signature: trust them
        signature = None
    if signature is not None:
        try:
            signature.bind(0, 0)
        except TypeError:
            name = getattr(progress, "__name__", type(progress).__name__)
            raise TypeError(f"progress is called as progress(done, total), but {name}{signature} cannot take two "
                            "positional arguments; use e.g. progress=lambda done, total: print(done, total)") from None
    takes_extra = signature is not None and any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values())
    if takes_extra:
        return progress
    return lambda done, total, **extra: progress(done, total)
