"""Keeps Reverb's C++ log lines off stderr, unless asked for.

Reverb 0.14's pip build logs through its own minimal logger (`reverb/cc/platform/default/
logging.h`), not absl's or TensorFlow's: every `REVERB_LOG` line, INFO, WARNING and ERROR
alike and with no severity in the text, is written to C++'s `std::clog` as
`[reverb/cc/<file>.cc:<line>] <message>`. Neither `TF_CPP_MIN_LOG_LEVEL` nor absl's flags
reach it. A one-process run prints 4-6 of them (checkpointer set-up, server start and stop,
the sampler's in-process shortcut).

`quiet()`, which `rlkit.replay`'s Reverb backend calls before it imports Reverb, so every
entry point (scripts, `run_experiment`, notebooks, the command line) gets it, puts
`std::clog` into its failed state: writes to it are dropped. Only `std::clog` is touched:
Reverb's fatal errors (written to `std::cerr`), TensorFlow's, gRPC's and absl's logs (C stdio)
and Python's own output are unchanged; Reverb's errors reach Python as exceptions.

To see Reverb's lines, set `RLKIT_REVERB_LOGS=1` before the run, or `TF_CPP_MIN_LOG_LEVEL=0`
yourself (asking TensorFlow for its INFO lines asks Reverb for its lines too);
`RLKIT_REVERB_LOGS=0` keeps them off whatever `TF_CPP_MIN_LOG_LEVEL` says. (`import rlkit`
defaults `TF_CPP_MIN_LOG_LEVEL` to 2, keeping a value you set: see `rlkit/_xla_setup.py`.)
"""

from __future__ import annotations

import ctypes
import logging
import os

_log = logging.getLogger("rlkit.replay")

_BADBIT = 1  # std::ios_base::badbit in libstdc++ (goodbit is 0).
_quieted = False
_INIT_STORAGE: list = []


def wanted() -> bool:
    """Whether the user asked for Reverb's C++ log lines (see the module docstring)."""
    setting = os.environ.get("RLKIT_REVERB_LOGS", "").strip().lower()
    if setting:
        return setting not in ("0", "false", "no", "off")
    return os.environ.get("TF_CPP_MIN_LOG_LEVEL", "").strip() == "0"


def _clog_ios() -> tuple[ctypes.CDLL, int]:
    """libstdc++ and the address of `std::clog`'s `basic_ios` part (its virtual base)."""
    libstdcxx = ctypes.CDLL("libstdc++.so.6")  # The copy already loaded, found by its soname.
    clog = ctypes.addressof(ctypes.c_char.in_dll(libstdcxx, "_ZSt4clog"))
    ostream_rtti = ctypes.addressof(ctypes.c_char.in_dll(libstdcxx, "_ZTISo"))
    vtable = ctypes.c_void_p.from_address(clog).value
    if not vtable:  # No C++ library has constructed the standard streams yet: as they do,
        # create a `std::ios_base::Init`, which constructs them (it is never destroyed).
        _INIT_STORAGE.append(ctypes.create_string_buffer(16))
        libstdcxx["_ZNSt8ios_base4InitC1Ev"](_INIT_STORAGE[-1])
        vtable = ctypes.c_void_p.from_address(clog).value
    # Itanium C++ ABI: vtable[-1] is the complete object's RTTI, vtable[-2] the offset to its
    # top, vtable[-3] the offset of the virtual base. All are checked before any write.
    if ctypes.c_void_p.from_address(vtable - 8).value != ostream_rtti:
        raise OSError("std::clog does not have std::ostream's layout")
    ios = clog + ctypes.c_ssize_t.from_address(vtable - 24).value
    ios_vtable = ctypes.c_void_p.from_address(ios).value
    if (
        ios == clog
        or ctypes.c_void_p.from_address(ios_vtable - 8).value != ostream_rtti
        or ctypes.c_ssize_t.from_address(ios_vtable - 16).value != clog - ios
    ):
        raise OSError("std::clog's basic_ios base is not where the ABI puts it")
    return libstdcxx, ios


def _set_clog_state(state: int) -> None:
    libstdcxx, ios = _clog_ios()
    clear = libstdcxx["_ZNSt9basic_iosIcSt11char_traitsIcEE5clearESt12_Ios_Iostate"]
    clear.argtypes, clear.restype = [ctypes.c_void_p, ctypes.c_int], None
    clear(ios, state)


def quiet() -> bool:
    """Silences Reverb's C++ log lines unless `wanted()`; returns whether they are silenced.

    Call before Reverb logs anything (rlkit calls it before importing Reverb); idempotent.
    """
    global _quieted
    if wanted():
        return False
    if not _quieted:
        try:
            _set_clog_state(_BADBIT)
        except (OSError, AttributeError, ValueError) as error:  # Not glibc / libstdc++.
            _log.debug("Cannot silence Reverb's C++ log lines: %s", error)
            return False
        _quieted = True
    return True
