"""Guards the checks share (not a topic: no questions here)."""
import contextlib

import torch

from dlext.homework import CheckFailure


@contextlib.contextmanager
def off_limits(*targets: tuple[object, str], why: str):
    """While the block runs, each ``(owner, name)`` attribute raises CheckFailure saying ``why`` (``{name}`` filled in).

    The check calls the student's function inside the block, so an answer that leans on what the exercise asks
    the student to write (``dlext.conv.output_size``, autograd) fails with that message. This works in the
    notebook's own process; when grading, the student's code runs in another process, where nothing is replaced.
    A determined cheat can restore the attributes: it catches the lazy answer, not every dishonest one.
    """
    saved = [(owner, name, getattr(owner, name)) for owner, name in targets]

    def refuse(name):
        def raise_(*args, **kwargs):
            raise CheckFailure(why.format(name=name))
        return raise_

    try:
        for owner, name, _ in saved:
            setattr(owner, name, refuse(name))
        yield
    finally:
        for owner, name, original in saved:
            setattr(owner, name, original)


# the ways a solution reaches autograd (an expert read passed a check with torch.autograd.backward, the third)
AUTOGRAD = ((torch.autograd, "grad"), (torch.Tensor, "backward"), (torch.autograd, "backward"))
