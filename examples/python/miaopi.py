"""miaopi for Python: a ctypes binding over the C library (stdlib only).

    import miaopi
    rules = miaopi.Ruleset("rules/sz-talent/ruleset.xml")
    print(rules.decide(open("case.json").read()).outcome)   # "REJECT"

A Ruleset is immutable and may be shared by any number of threads.
Ruleset.decide() evaluates into a miaopi_decision kept per thread (the C
library's rule: one decision object per thread, reused), copies the
result into plain Python objects and returns them, so a Decision stays
valid after later calls. Errors are raised as MiaopiError carrying the
library's code, stable diagnostic id, message and position.

The shared library is found through $MIAOPI_LIBRARY (a path), then the
dynamic loader (LD_LIBRARY_PATH, ldconfig) as libmiaopi.so.0.

SPDX-License-Identifier: Apache-2.0
"""
import ctypes
import ctypes.util
import json
import os
import threading
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Union

__all__ = ["MiaopiError", "Ruleset", "Decision", "Reason", "RuleResult",
           "Diagnostic", "version"]

# ---- the C declarations this module uses (see include/miaopi.h) ----

_c_char_p = ctypes.c_char_p
_size_t = ctypes.c_size_t


class _Error(ctypes.Structure):
    _fields_ = [("code", ctypes.c_int), ("id", ctypes.c_char * 16),
                ("message", ctypes.c_char * 512),
                ("file", ctypes.c_char * 256), ("line", ctypes.c_int),
                ("column", ctypes.c_int), ("offset", ctypes.c_long)]


class _Diagnostic(ctypes.Structure):
    _fields_ = [("severity", ctypes.c_int), ("id", _c_char_p),
                ("message", _c_char_p), ("file", _c_char_p),
                ("line", ctypes.c_int), ("column", ctypes.c_int),
                ("offset", ctypes.c_long)]


_DIAG_CB = ctypes.CFUNCTYPE(None, ctypes.POINTER(_Diagnostic),
                            ctypes.c_void_p)


class _LoadOptions(ctypes.Structure):
    _fields_ = [("size", _size_t), ("on_diagnostic", _DIAG_CB),
                ("payload", ctypes.c_void_p), ("max_file_bytes", _size_t),
                ("max_depth", ctypes.c_uint), ("max_errors", ctypes.c_uint)]


class _EvalOptions(ctypes.Structure):
    _fields_ = [("size", _size_t), ("ignore_effective_dates", ctypes.c_int),
                ("shadow", ctypes.c_void_p), ("decision_id", _c_char_p),
                ("spot_check_rate", ctypes.c_double)]


class _RuleInfo(ctypes.Structure):
    _fields_ = [("size", _size_t), ("id", _c_char_p), ("code", _c_char_p),
                ("title", _c_char_p), ("basis", _c_char_p),
                ("on_fail", ctypes.c_int), ("on_unknown", ctypes.c_int),
                ("line", ctypes.c_int)]


class _RuleResult(ctypes.Structure):
    _fields_ = [("size", _size_t), ("id", _c_char_p), ("code", _c_char_p),
                ("status", ctypes.c_int), ("effect", ctypes.c_int),
                ("unknown_reason", _c_char_p), ("unknown_path", _c_char_p)]


class _Reason(ctypes.Structure):
    _fields_ = [("size", _size_t), ("rule_id", _c_char_p),
                ("code", _c_char_p), ("status", ctypes.c_int),
                ("effect", ctypes.c_int), ("title", _c_char_p),
                ("message", _c_char_p), ("basis", _c_char_p)]


_P = ctypes.c_void_p
_SIGNATURES = {
    "miaopi_version": (_c_char_p, []),
    "miaopi_strerror": (_c_char_p, [ctypes.c_int]),
    "miaopi_free": (None, [_P]),
    "miaopi_ruleset_load_file": (ctypes.c_int, [ctypes.POINTER(_P), _c_char_p,
                                                ctypes.POINTER(_LoadOptions),
                                                ctypes.POINTER(_Error)]),
    "miaopi_ruleset_load_buffer": (ctypes.c_int, [
        ctypes.POINTER(_P), _c_char_p, _size_t, _c_char_p,
        ctypes.POINTER(_LoadOptions), ctypes.POINTER(_Error)]),
    "miaopi_ruleset_unref": (None, [_P]),
    "miaopi_ruleset_id": (_c_char_p, [_P]),
    "miaopi_ruleset_version": (_c_char_p, [_P]),
    "miaopi_ruleset_title": (_c_char_p, [_P, _c_char_p]),
    "miaopi_ruleset_sha256": (_c_char_p, [_P]),
    "miaopi_ruleset_effective_from": (_c_char_p, [_P]),
    "miaopi_ruleset_effective_until": (_c_char_p, [_P]),
    "miaopi_ruleset_rule_count": (_size_t, [_P]),
    "miaopi_ruleset_rule": (ctypes.c_int, [ctypes.POINTER(_RuleInfo), _P,
                                           _size_t, _c_char_p]),
    "miaopi_case_from_json": (ctypes.c_int, [ctypes.POINTER(_P), _c_char_p,
                                             _size_t, ctypes.POINTER(_Error)]),
    "miaopi_case_free": (None, [_P]),
    "miaopi_decision_new": (ctypes.c_int, [ctypes.POINTER(_P)]),
    "miaopi_decision_free": (None, [_P]),
    "miaopi_evaluate": (ctypes.c_int, [_P, _P, _P,
                                       ctypes.POINTER(_EvalOptions),
                                       ctypes.POINTER(_Error)]),
    "miaopi_decision_outcome": (ctypes.c_int, [_P]),
    "miaopi_outcome_name": (_c_char_p, [ctypes.c_int]),
    "miaopi_rule_status_name": (_c_char_p, [ctypes.c_int]),
    "miaopi_decision_date": (_c_char_p, [_P]),
    "miaopi_decision_rule_count": (_size_t, [_P]),
    "miaopi_decision_rule": (ctypes.c_int, [ctypes.POINTER(_RuleResult), _P,
                                            _size_t]),
    "miaopi_decision_reason_count": (_size_t, [_P]),
    "miaopi_decision_reason": (ctypes.c_int, [ctypes.POINTER(_Reason), _P,
                                              _size_t, _c_char_p]),
    "miaopi_decision_to_json": (ctypes.c_int, [ctypes.POINTER(_P), _P,
                                               _c_char_p, ctypes.c_uint]),
}
_JSON_REASONS = 0x1


def _load_library():
    path = os.environ.get("MIAOPI_LIBRARY")
    if not path:
        path = ctypes.util.find_library("miaopi") or "libmiaopi.so.0"
    lib = ctypes.CDLL(path)
    for name, (restype, argtypes) in _SIGNATURES.items():
        fn = getattr(lib, name)
        fn.restype = restype
        fn.argtypes = argtypes
    return lib


_lib = _load_library()


def _s(b: Optional[bytes]) -> str:
    return b.decode("utf-8") if b else ""


def version() -> str:
    """The C library's version, e.g. "0.1.0"."""
    return _s(_lib.miaopi_version())


# ---- results and errors ----

@dataclass
class Diagnostic:
    """One load diagnostic: severity is "error" or "warning"."""
    severity: str
    id: str
    message: str
    file: str
    line: int
    column: int


class MiaopiError(Exception):
    """A failed library call. `code` is the negative MIAOPI_E* status,
    `name` its symbolic name ("MIAOPI_ERULES"), `id` the stable
    diagnostic id ("MIAOPI-E12") or "", and file/line/column/offset
    locate the problem in the rule file or case when known."""

    def __init__(self, err: _Error, code: int,
                 diagnostics: Optional[List[Diagnostic]] = None):
        self.code = code
        self.name = _s(_lib.miaopi_strerror(code))
        self.id = _s(err.id)
        self.message = _s(err.message) or self.name
        self.file = _s(err.file)
        self.line, self.column, self.offset = err.line, err.column, err.offset
        self.diagnostics = diagnostics or []
        where = ""
        if self.file and self.line:
            where = "%s:%d:%d: " % (self.file, self.line, self.column)
        elif self.line:
            where = "%d:%d: " % (self.line, self.column)
        super().__init__("%s%s [%s%s]" % (
            where, self.message, self.name,
            ", " + self.id if self.id else ""))


@dataclass
class RuleResult:
    """One rule's status: "pass", "fail", "unknown" or "not-applicable"."""
    id: str
    code: str
    status: str
    unknown_reason: str = ""
    unknown_path: str = ""


@dataclass
class Reason:
    """Why a decision is not APPROVE: message and basis in one language,
    personal data masked by its declared class."""
    rule_id: str
    code: str
    status: str
    effect: str
    title: str
    message: str
    basis: str


@dataclass
class Decision:
    """A decision, copied out of the library: plain data."""
    outcome: str
    decision_date: str
    ruleset_id: str
    ruleset_version: str
    ruleset_sha256: str
    rule_results: List[RuleResult] = field(default_factory=list)
    reasons: List[Reason] = field(default_factory=list)
    json_text: str = ""

    @property
    def rules(self) -> Dict[str, str]:
        """{rule id: status}, in ruleset order."""
        return {r.id: r.status for r in self.rule_results}

    def to_dict(self) -> dict:
        """The library's JSON form of the decision (with reasons)."""
        return json.loads(self.json_text)


# ---- rulesets and deciding ----

class _DecisionHolder:
    """Owns one miaopi_decision."""

    def __init__(self):
        self.ptr = _P()
        if _lib.miaopi_decision_new(ctypes.byref(self.ptr)) != 0:
            raise MemoryError("miaopi_decision_new")

    def __del__(self):
        if self.ptr and _lib is not None:
            _lib.miaopi_decision_free(self.ptr)
            self.ptr = _P()


# One decision per thread, reused; a thread's holder is freed with it.
_tls = threading.local()


def _thread_decision():
    holder = getattr(_tls, "holder", None)
    if holder is None:
        holder = _tls.holder = _DecisionHolder()
    return holder.ptr


class Ruleset:
    """A compiled, immutable ruleset; share it between threads."""

    def __init__(self, path: Optional[str] = None, *,
                 text: Union[str, bytes, None] = None,
                 name: Optional[str] = None):
        """Load a rule file from `path`, or from `text` (named `name` in
        diagnostics). Raises MiaopiError (MIAOPI_ERULES, with every
        diagnostic in .diagnostics; MIAOPI_EIO; MIAOPI_ELIMIT)."""
        self._ptr = _P()
        diags: List[Diagnostic] = []

        def on_diag(d, _payload):
            d = d.contents
            diags.append(Diagnostic(
                "warning" if d.severity == 1 else "error", _s(d.id),
                _s(d.message), _s(d.file), d.line, d.column))

        cb = _DIAG_CB(on_diag)
        opts = _LoadOptions(ctypes.sizeof(_LoadOptions), cb, None, 0, 0, 0)
        err = _Error()
        if (path is None) == (text is None):
            raise ValueError("give exactly one of path and text")
        if path is not None:
            rc = _lib.miaopi_ruleset_load_file(
                ctypes.byref(self._ptr), os.fsencode(path),
                ctypes.byref(opts), ctypes.byref(err))
        else:
            data = text.encode("utf-8") if isinstance(text, str) else text
            rc = _lib.miaopi_ruleset_load_buffer(
                ctypes.byref(self._ptr), data, len(data),
                name.encode("utf-8") if name else None,
                ctypes.byref(opts), ctypes.byref(err))
        self.diagnostics = diags
        if rc != 0:
            raise MiaopiError(err, rc, diags)

    def close(self):
        """Release the ruleset now (otherwise when garbage collected)."""
        if getattr(self, "_ptr", None) and _lib is not None:
            _lib.miaopi_ruleset_unref(self._ptr)
            self._ptr = _P()

    __del__ = close

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _live(self):
        if not self._ptr:
            raise ValueError("ruleset is closed")
        return self._ptr

    id = property(lambda self: _s(_lib.miaopi_ruleset_id(self._live())))
    version = property(
        lambda self: _s(_lib.miaopi_ruleset_version(self._live())))
    sha256 = property(
        lambda self: _s(_lib.miaopi_ruleset_sha256(self._live())))
    effective_from = property(
        lambda self: _s(_lib.miaopi_ruleset_effective_from(self._live())))
    effective_until = property(
        lambda self: _s(_lib.miaopi_ruleset_effective_until(self._live())))

    def title(self, lang: Optional[str] = None) -> str:
        return _s(_lib.miaopi_ruleset_title(
            self._live(), lang.encode() if lang else None))

    def rule_ids(self) -> List[str]:
        out = []
        for i in range(_lib.miaopi_ruleset_rule_count(self._live())):
            info = _RuleInfo(ctypes.sizeof(_RuleInfo))
            if _lib.miaopi_ruleset_rule(ctypes.byref(info), self._ptr, i,
                                        None) == 0:
                out.append(_s(info.id))
        return out

    def decide(self, case: Union[dict, str, bytes], *,
               lang: Optional[str] = None,
               ignore_effective_dates: bool = False) -> Decision:
        """Decide a case given as a dict or as JSON text. Messages are in
        `lang` ("zh-CN" or "en"; None: the ruleset's default). Raises
        MiaopiError: MIAOPI_ECASE (malformed case, with line/column for
        bad JSON), MIAOPI_ENOTINFORCE (decision date outside the
        ruleset's effective range), MIAOPI_ELIMIT."""
        if isinstance(case, dict):
            case = json.dumps(case, ensure_ascii=False)
        data = case.encode("utf-8") if isinstance(case, str) else case
        err = _Error()
        cptr = _P()
        rc = _lib.miaopi_case_from_json(ctypes.byref(cptr), data, len(data),
                                        ctypes.byref(err))
        if rc != 0:
            raise MiaopiError(err, rc)
        try:
            opts = _EvalOptions(ctypes.sizeof(_EvalOptions),
                                1 if ignore_effective_dates else 0,
                                None, None, 0.0)
            d = _thread_decision()
            rc = _lib.miaopi_evaluate(d, self._live(), cptr,
                                      ctypes.byref(opts), ctypes.byref(err))
            if rc != 0:
                raise MiaopiError(err, rc)
            return self._copy(d, lang.encode() if lang else None)
        finally:
            _lib.miaopi_case_free(cptr)

    def _copy(self, d, lang) -> Decision:
        out = Decision(
            outcome=_s(_lib.miaopi_outcome_name(
                _lib.miaopi_decision_outcome(d))),
            decision_date=_s(_lib.miaopi_decision_date(d)),
            ruleset_id=self.id, ruleset_version=self.version,
            ruleset_sha256=self.sha256)
        for i in range(_lib.miaopi_decision_rule_count(d)):
            r = _RuleResult(ctypes.sizeof(_RuleResult))
            if _lib.miaopi_decision_rule(ctypes.byref(r), d, i) == 0:
                out.rule_results.append(RuleResult(
                    _s(r.id), _s(r.code),
                    _s(_lib.miaopi_rule_status_name(r.status)),
                    _s(r.unknown_reason), _s(r.unknown_path)))
        for i in range(_lib.miaopi_decision_reason_count(d)):
            r = _Reason(ctypes.sizeof(_Reason))
            if _lib.miaopi_decision_reason(ctypes.byref(r), d, i, lang) == 0:
                out.reasons.append(Reason(
                    _s(r.rule_id), _s(r.code),
                    _s(_lib.miaopi_rule_status_name(r.status)),
                    _s(_lib.miaopi_outcome_name(r.effect)),
                    _s(r.title), _s(r.message), _s(r.basis)))
        js = _P()
        if _lib.miaopi_decision_to_json(ctypes.byref(js), d, lang,
                                        _JSON_REASONS) == 0:
            out.json_text = _s(ctypes.cast(js, _c_char_p).value)
            _lib.miaopi_free(js)
        return out
