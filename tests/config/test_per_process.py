"""PerProcess: one value per process, made again in a forked child."""

import os

from inspection.per_process import PerProcess


def test_the_value_is_made_once_and_again_in_a_forked_child():
    made: list[int] = []

    def make() -> object:
        made.append(os.getpid())
        return object()

    value = PerProcess(make)
    first = value.get()
    assert value.get() is first and made == [os.getpid()]

    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # the child: a new value, made by itself
        own = value.get()
        os.write(write, b"1" if own is not first and made[-1] == os.getpid() and value.get() is own else b"0")
        os._exit(0)
    os.close(write)
    _, status = os.waitpid(child, 0)
    assert os.read(read, 1) == b"1" and status == 0
    assert value.get() is first and made == [os.getpid()]  # the parent's is untouched
