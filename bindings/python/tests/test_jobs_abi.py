"""The job API's ctypes declarations against include/hubauth.h: the event
struct's fields, read from the header's text and laid out by the C compiler
(offsets and size), and the notify function passed as a C address."""

from __future__ import annotations

import ctypes
import os
import re
import subprocess

import pytest

from conftest import HEADER, REPO
from hubauth import _lib

#: C type of a struct member -> the ctypes type the binding must use.
C_TO_CTYPES = {
    "int32_t": ctypes.c_int32,
    "hubauth_status": ctypes.c_int32,
    "const char *": ctypes.c_char_p,
    "hubauth_auth *": _lib.AuthPtr,
    "hubauth_secret *": _lib.SecretPtr,
    "hubauth_error *": _lib.ErrorPtr,
    "bool": ctypes.c_bool,
}


def header_struct(name: str):
    """(C type, field) of `typedef struct { ... } name;`, from the header's text."""
    text = re.sub(r"/\*.*?\*/", "", HEADER.read_text(), flags=re.S)
    m = re.search(r"typedef struct \{(.*?)\}\s*" + name + r"\s*;", text, re.S)
    assert m, f"no typedef struct {{...}} {name}; in {HEADER}"
    fields = []
    for decl in m.group(1).split(";"):
        decl = " ".join(decl.split())
        if not decl:
            continue
        f = re.fullmatch(r"(.*?)\s*(\**)\s*(\w+)", decl)
        ctype = f.group(1) + (" " + f.group(2) if f.group(2) else "")
        fields.append((ctype, f.group(3)))
    return fields


def test_job_event_fields_are_the_headers():
    fields = header_struct("hubauth_job_event")
    assert [n for _, n in fields] == [n for n, _ in _lib.JobEvent._fields_]
    for (c_type, name), (_, py_type) in zip(fields, _lib.JobEvent._fields_):
        assert C_TO_CTYPES[c_type] is py_type, f"{name}: {c_type} is not {py_type}"


def test_job_event_layout_is_the_compilers(tmp_path):
    fields = [n for n, _ in _lib.JobEvent._fields_]
    source = tmp_path / "layout.c"
    source.write_text(
        "#include <stdio.h>\n#include <stddef.h>\n#include \"hubauth.h\"\n"
        "int main(void) {\n"
        '  printf("size %zu\\n", sizeof(hubauth_job_event));\n'
        + "".join(
            f'  printf("{n} %zu\\n", offsetof(hubauth_job_event, {n}));\n' for n in fields
        )
        + "  return 0;\n}\n"
    )
    exe = tmp_path / "layout"
    subprocess.run(["gcc", "-std=c11", f"-I{REPO / 'include'}", str(source), "-o", str(exe)],
                   check=True)
    out = dict(line.split() for line in subprocess.run(
        [str(exe)], check=True, capture_output=True, text=True).stdout.splitlines())
    assert int(out["size"]) == ctypes.sizeof(_lib.JobEvent)
    for n in fields:
        assert int(out[n]) == getattr(_lib.JobEvent, n).offset, n


def test_poll_takes_only_a_job_event():
    argtypes = _lib.SIGNATURES["hubauth_job_poll"][1]
    assert argtypes[1] is ctypes.POINTER(_lib.JobEvent)
    with pytest.raises(ctypes.ArgumentError):
        _lib.lib.hubauth_job_poll(None, ctypes.byref(ctypes.c_int64()), None)


def test_notify_fd_is_the_c_function_and_writes_eight_bytes():
    # The C address itself, not a ctypes trampoline: no Python on the job's thread.
    address = ctypes.cast(_lib.NOTIFY_FD, ctypes.c_void_p).value
    assert address == ctypes.cast(_lib.lib.hubauth_notify_fd, ctypes.c_void_p).value
    r, w = os.pipe()
    try:
        os.set_blocking(r, False)
        _lib.NOTIFY_FD(ctypes.c_void_p(w))
        assert len(os.read(r, 64)) == 8
    finally:
        os.close(r)
        os.close(w)
