"""The allow-list unpickler for legacy metadata: plain values only, every opcode counted.

Unpickling untrusted bytes can run arbitrary code, so legacy metadata is never unpickled freely:
:class:`_AllowListUnpickler` resolves only the few globals that real legacy files contain, each
replaced by a harmless stand-in that can only build plain values (see :mod:`mlarray._published.files` for what the
published package wrote):

* ``mlarray.meta._FrozenList`` / ``_FrozenDict`` (read-only list/dict subclasses, pickled
  as ``_FrozenList([...])``)                            -> ``list`` / ``dict``
* ``mlarray.meta.AxisLabelEnum`` / ``CoordSystemEnum`` (str enums a user put in a
  source/extra dict; they pass the package's ``json.dumps`` check)  -> their str value
* ``numpy.dtype`` + ``numpy[._]core.multiarray.scalar`` for ``np.float64`` (a float
  subclass, so it passes the package's checks, e.g. statistics from ``np.mean``) and
  ``np.str_`` scalars -> ``float`` / ``str``, decoded from the raw bytes without numpy
* ``collections.OrderedDict`` -> ``dict``; ``copyreg._reconstructor`` only for those types;
  ``_codecs.encode(str, 'latin1')`` (how protocol 0-2 pickles spell bytes) -> ``bytes``

Anything else (``os.system``, ``builtins.eval``, numpy arrays, ...) raises
:class:`UnsafeLegacyFileError` before it is called. The unpickler is Python's own pure-Python
one (``pickle._Unpickler``) with a dispatch table of its own, so that every opcode is seen:

* opcodes are counted as they run (``max_legacy_values``): a 14 KB pickle holding 7 M
  references to one object stops after the limit (1.2 s, 92 MB), not after 2.5 GB;
* the opcodes that change an existing object (``BUILD``, ``APPEND(S)``, ``SETITEM(S)``) act only
  on the plain lists and dicts the reader itself creates (and ``BUILD`` on the dtype stand-in,
  whose state is checked): a file cannot set attributes of the stand-in functions or classes;
* object construction (``NEWOBJ``) only makes lists and dicts; sets, persistent ids, the
  extension registry, out-of-band buffers and old-style ``INST``/``OBJ`` are refused;
* integers wider than 1024 bits (beyond any float) are refused where they are read.

The result is then checked to hold only plain JSON-like values and to stay small when shared
references are expanded. The gzip layer is inflated only up to ``max_legacy_pickle_bytes``.
"""

from __future__ import annotations

import io
import pickle
import struct
import zlib
from typing import IO, Any, Callable, Optional

from .._errors import CorruptFileError, LimitExceededError, UnsafeLegacyFileError
from .._untrusted.limits import limit, remedy

__all__ = ["safe_unpickle", "check_plain", "inflate_gzip"]

# Structural limit (not a resource limit): the v1 JSON document nests at most this deep too.
_MAX_DEPTH = 64
# Integers a float can hold; wider ones cannot be metadata numbers (they made the migration
# raise a bare OverflowError, or json.dumps a bare ValueError).
_MAX_INT_BITS = 1024
_INFLATE_STEP = 1 << 20


class _LegacyLimitError(LimitExceededError, UnsafeLegacyFileError):
    """A legacy pickle beyond a resource limit: both kinds of error, so either ``except`` catches it."""


# ----------------------------------------------------------------------------- stand-ins

class _Refused(pickle.UnpicklingError):
    """Something outside the allow-list; turned into UnsafeLegacyFileError."""


class _TooLarge(pickle.UnpicklingError):
    """A resource limit was reached while unpickling; turned into _LegacyLimitError."""

    def __init__(self, name: str, value: int, what: str) -> None:
        super().__init__(what)
        self.name, self.value, self.what = name, value, what


def _enum_value(value: Any) -> str:
    """Stand-in for the published str enums: ``AxisLabelEnum('channel')`` -> ``'channel'``."""
    if type(value) is not str:
        raise _Refused(f"a str enum built from a {type(value).__name__}")
    return value


def _safe_reconstructor(cls: Any, base: Any, state: Any) -> Any:
    """Stand-in for ``copyreg._reconstructor`` (protocol 0/1 pickles of list/dict subclasses).

    ``cls`` has already passed ``find_class``, so for the frozen containers it is the builtin
    list/dict they map to; anything else is refused and nothing is called.
    """
    if type(cls) is not type or cls not in (list, dict) or base is not cls:
        raise _Refused("copyreg._reconstructor for something other than a list/dict subclass")
    if state is None:
        return cls()
    if type(state) is not cls:
        raise pickle.UnpicklingError("copyreg._reconstructor state must be a plain list/dict")
    return cls(state)


class _SafeDtype:
    """Stand-in for ``numpy.dtype(spec, align, copy)``: records only what scalars need."""

    __slots__ = ("spec", "byteorder")

    def __init__(self, spec: Any = None, align: Any = False, copy: Any = True) -> None:
        if type(spec) is not str or not (spec == "f8" or (spec[:1] == "U" and spec[1:].isdigit())):
            raise _Refused(f"numpy.dtype({spec!r}) (only float64 and str scalars are allowed)")
        self.spec = spec
        self.byteorder = "<"

    def __setstate__(self, state: Any) -> None:
        # numpy's dtype state: (version, byteorder, subarray, names, fields, elsize, alignment, flags)
        if (type(state) is not tuple or len(state) < 5 or state[0] not in (3, 4)
                or state[1] not in ("<", ">", "=", "|") or state[2:5] != (None, None, None)):
            raise pickle.UnpicklingError("unexpected numpy dtype state")
        self.byteorder = "<" if state[1] in ("=", "|") else state[1]


def _safe_numpy_scalar(dtype: Any, data: Any = None) -> Any:
    """Stand-in for ``numpy.core.multiarray.scalar``: float64 -> float, str_ -> str."""
    if type(dtype) is not _SafeDtype or type(data) is not bytes:
        raise _Refused("numpy.core.multiarray.scalar with arguments other than (allowed dtype, bytes)")
    if dtype.spec == "f8":
        if len(data) != 8:
            raise pickle.UnpicklingError("float64 scalar must have 8 bytes")
        return struct.unpack(dtype.byteorder + "d", data)[0]
    if len(data) % 4:
        raise pickle.UnpicklingError("str scalar bytes must be UCS4")
    codec = "utf-32-le" if dtype.byteorder == "<" else "utf-32-be"
    try:
        return data.decode(codec).rstrip("\x00")
    except UnicodeDecodeError as exc:
        raise pickle.UnpicklingError(f"bad str scalar: {exc}") from None


def _latin1_bytes(text: Any, encoding: Any = None) -> bytes:
    """Stand-in for ``_codecs.encode``, which protocol 0-2 pickles use to spell bytes."""
    if type(text) is not str or encoding != "latin1":
        raise _Refused("_codecs.encode with arguments other than (str, 'latin1')")
    return text.encode("latin1")


# (module, name) -> harmless stand-in. Nothing outside this table is ever resolved.
_ALLOWED_GLOBALS = {
    # list(x) / dict(x) copy; also right for NEWOBJ (``cls.__new__(cls)``) and APPENDS/SETITEMS.
    ("mlarray.meta", "_FrozenList"): list,
    ("mlarray.meta", "_FrozenDict"): dict,
    ("mlarray.meta", "AxisLabelEnum"): _enum_value,
    ("mlarray.meta", "CoordSystemEnum"): _enum_value,
    ("collections", "OrderedDict"): dict,
    ("copyreg", "_reconstructor"): _safe_reconstructor,
    ("builtins", "list"): list,
    ("builtins", "dict"): dict,
    ("_codecs", "encode"): _latin1_bytes,
    ("numpy", "dtype"): _SafeDtype,
    ("numpy.core.multiarray", "scalar"): _safe_numpy_scalar,
    ("numpy._core.multiarray", "scalar"): _safe_numpy_scalar,
}

_PY2_MODULES = {"__builtin__": "builtins", "copy_reg": "copyreg"}


# ----------------------------------------------------------------------------- the unpickler

def _refuse(what: str) -> Callable:
    def op(self: _AllowListUnpickler) -> None:
        raise _Refused(what)
    return op


def _build(self: _AllowListUnpickler) -> None:
    """BUILD: only the dtype stand-in takes state; on the reader's own lists/dicts it must be empty."""
    state = self.stack.pop()
    inst = self.stack[-1]
    if type(inst) is _SafeDtype:
        inst.__setstate__(state)
    elif type(inst) not in (list, dict) or state:
        raise _Refused(f"BUILD (setting state) on a {type(inst).__name__}")


def _mutating(op_name: str, base: Callable, target_at: int, types: tuple) -> Callable:
    """APPEND(S)/SETITEM(S): the object they change must be a plain list/dict the reader made."""
    def op(self: _AllowListUnpickler) -> None:
        stack = self.stack
        if target_at == -1:  # APPENDS/SETITEMS: the target sits below the mark
            target = self.metastack[-1][-1] if self.metastack and self.metastack[-1] else None
        else:
            target = stack[target_at] if len(stack) >= -target_at else None
        if type(target) not in types:
            raise _Refused(f"{op_name} on a {type(target).__name__}")
        base(self)
    return op


def _newobj(self: _AllowListUnpickler) -> None:
    args = self.stack.pop()
    cls = self.stack.pop()
    if cls not in (list, dict) or args:
        raise _Refused(f"NEWOBJ of {getattr(cls, '__name__', type(cls).__name__)}")
    self.append(cls())


def _newobj_ex(self: _AllowListUnpickler) -> None:
    kwargs = self.stack.pop()
    args = self.stack.pop()
    cls = self.stack.pop()
    if cls not in (list, dict) or args or kwargs:
        raise _Refused(f"NEWOBJ_EX of {getattr(cls, '__name__', type(cls).__name__)}")
    self.append(cls())


def _checked_long(base: Callable) -> Callable:
    def op(self: _AllowListUnpickler) -> None:
        base(self)
        value = self.stack[-1]
        if value.bit_length() > _MAX_INT_BITS:
            raise pickle.UnpicklingError(f"an integer of {value.bit_length()} bits (metadata numbers fit in "
                                         f"{_MAX_INT_BITS})")
    return op


def _dispatch_table() -> dict:
    base = pickle._Unpickler.dispatch  # noqa: SLF001 - the pure-Python unpickler, see the module doc
    table: dict[int, Callable[[Any], None]] = dict(base)  # handlers of our subclass: see _AllowListUnpickler
    for code in (pickle.PERSID, pickle.BINPERSID):
        table[code[0]] = _refuse("a persistent id")
    for code in (pickle.EXT1, pickle.EXT2, pickle.EXT4):
        table[code[0]] = _refuse("the copyreg extension registry")
    for code in (pickle.INST, pickle.OBJ):
        table[code[0]] = _refuse("an old-style class instance (INST/OBJ)")
    for code in (pickle.EMPTY_SET, pickle.ADDITEMS, pickle.FROZENSET):
        table[code[0]] = _refuse("a set")
    for code in (pickle.BYTEARRAY8, pickle.NEXT_BUFFER, pickle.READONLY_BUFFER):
        table[code[0]] = _refuse("an out-of-band buffer")
    table[pickle.BUILD[0]] = _build
    table[pickle.NEWOBJ[0]] = _newobj
    table[pickle.NEWOBJ_EX[0]] = _newobj_ex
    table[pickle.APPEND[0]] = _mutating("APPEND", base[pickle.APPEND[0]], -2, (list,))
    table[pickle.APPENDS[0]] = _mutating("APPENDS", base[pickle.APPENDS[0]], -1, (list,))
    table[pickle.SETITEM[0]] = _mutating("SETITEM", base[pickle.SETITEM[0]], -3, (dict,))
    table[pickle.SETITEMS[0]] = _mutating("SETITEMS", base[pickle.SETITEMS[0]], -1, (dict,))
    for code in (pickle.LONG1, pickle.LONG4):
        table[code[0]] = _checked_long(base[code[0]])
    return table


_DISPATCH = _dispatch_table()


class _AllowListUnpickler(pickle._Unpickler):  # noqa: SLF001
    """Pure-Python unpickler: allow-listed globals, restricted mutation, every opcode counted."""

    # The pure-Python unpickler's working state, which the opcode handlers above read; load() sets them
    # (typeshed leaves these internals of pickle._Unpickler out).
    stack: list[Any]
    metastack: list[list[Any]]
    append: Callable[[Any], None]

    def __init__(self, file: IO[bytes], max_values: Optional[int]) -> None:
        super().__init__(file)
        self._left = max_values
        # An instance-level dispatch table whose entries count before they run. load() reads it through
        # self; typeshed types dispatch as the class's own dict, hence the narrow ignore.
        table = _CountingTable(self, max_values) if max_values is not None else _DISPATCH
        self.dispatch = table  # type: ignore[misc,assignment]

    def find_class(self, module: str, name: str) -> Any:
        # Python 2 module names, as written by protocol 0-2 pickles (pickle's fix_imports).
        module = _PY2_MODULES.get(module, module)
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except (KeyError, TypeError):
            raise _Refused(f"{module}.{name}") from None

    def persistent_load(self, pid: Any) -> Any:
        raise _Refused(f"persistent id {pid!r}")


class _CountingTable:
    """``dispatch[opcode]`` for :meth:`pickle._Unpickler.load`, counting opcodes against the limit."""

    __slots__ = ("left", "limit")

    def __init__(self, unpickler: _AllowListUnpickler, max_values: int) -> None:
        self.left, self.limit = max_values, max_values

    def __getitem__(self, code: int) -> Callable:
        self.left -= 1
        if self.left < 0:
            raise _TooLarge("max_legacy_values", self.limit + 1, "values built or referenced")
        return _DISPATCH[code]  # a KeyError (unknown opcode) is a damaged pickle


# ----------------------------------------------------------------------------- reading

def _limit_error(path: object, name: str, problem: str) -> _LegacyLimitError:
    return _LegacyLimitError(path, f"{problem} (limit {name}); nothing was executed; {remedy(name)}", name)


def safe_unpickle(data: bytes, path: object = "<legacy metadata>") -> Any:
    """Unpickle ``data`` allowing only the plain containers legacy mlarray files hold.

    Returns dicts, lists, str, numbers, bools and None (tuples may also appear).
    Raises :class:`UnsafeLegacyFileError` for any other global (nothing is executed), for a
    pickle beyond the limits (also a ``LimitExceededError``) and :class:`CorruptFileError` for a
    damaged pickle.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise CorruptFileError(path, f"legacy metadata must be bytes, got {type(data).__name__}")
    max_bytes = limit("max_legacy_pickle_bytes")
    if max_bytes is not None and len(data) > max_bytes:
        raise _limit_error(path, "max_legacy_pickle_bytes",
                           f"legacy pickled metadata is {len(data):,} bytes, above {max_bytes:,}")
    max_values = limit("max_legacy_values")
    try:
        obj = _AllowListUnpickler(io.BytesIO(bytes(data)), max_values).load()  # allow-list unpickler
    except _Refused as exc:
        raise UnsafeLegacyFileError(
            path,
            f"legacy pickled metadata uses {exc}, which is not on the safe allow-list; "
            "it was not loaded and nothing was executed. If you trust this file, re-save it "
            "with the published mlarray 0.0.x package's reader in an isolated environment",
        ) from None
    except _TooLarge as exc:
        raise _limit_error(path, exc.name, f"legacy pickled metadata has more than {max_values:,} {exc.what}") from None
    except RecursionError:
        raise UnsafeLegacyFileError(path, "legacy pickled metadata is nested too deeply") from None
    except MemoryError:
        raise CorruptFileError(path, "legacy pickled metadata needs more memory than is available") from None
    except Exception as exc:  # noqa: BLE001 - any failure of a damaged pickle
        raise CorruptFileError(path, f"legacy pickled metadata is damaged ({type(exc).__name__}: {exc})") from None
    check_plain(obj, path)
    return obj


def check_plain(obj: Any, path: object) -> None:
    """Only plain JSON-like values, bounded size and depth (iterative, no recursion)."""
    max_values = limit("max_legacy_values")
    stack = [(obj, 0)]
    seen = 0
    while stack:
        value, depth = stack.pop()
        seen += 1
        if max_values is not None and seen > max_values:
            raise _limit_error(path, "max_legacy_values",
                               f"legacy metadata expands to more than {max_values:,} values")
        if depth > _MAX_DEPTH:
            raise UnsafeLegacyFileError(path, f"legacy metadata nests deeper than {_MAX_DEPTH} levels")
        t = type(value)
        if t is dict:
            for k, v in value.items():
                if type(k) not in (str, int, float, bool) and k is not None:
                    raise UnsafeLegacyFileError(path, f"legacy metadata has a {type(k).__name__} dict key")
                if type(k) is int:
                    _check_int(k, path)
                stack.append((v, depth + 1))
        elif t in (list, tuple):
            stack.extend((v, depth + 1) for v in value)
        elif t is int:
            _check_int(value, path)
        elif value is not None and t not in (str, float, bool):
            raise UnsafeLegacyFileError(path, f"legacy metadata holds a {t.__name__} value")


def _check_int(value: int, path: object) -> None:
    if value.bit_length() > _MAX_INT_BITS:
        raise CorruptFileError(path, f"legacy metadata holds an integer of {value.bit_length()} bits; metadata "
                                     f"numbers fit in {_MAX_INT_BITS} bits (the range of a float), so the file "
                                     "is damaged or crafted")


def inflate_gzip(raw: bytes, path: object) -> bytes:
    """The gzip layer, inflated only up to ``max_legacy_pickle_bytes`` (a bomb stops there)."""
    max_bytes = limit("max_legacy_pickle_bytes")
    dec = zlib.decompressobj(zlib.MAX_WBITS | 16)
    out = bytearray()
    data = raw
    try:
        while not dec.eof:
            room = _INFLATE_STEP if max_bytes is None else max(max_bytes + 1 - len(out), 1)
            chunk = dec.decompress(data, min(room, _INFLATE_STEP))
            out += chunk
            data = dec.unconsumed_tail
            if max_bytes is not None and len(out) > max_bytes:
                raise _limit_error(path, "max_legacy_pickle_bytes",
                                   f"legacy metadata decompresses to more than {max_bytes:,} bytes")
            if not data and not chunk:
                break  # input used up before the end of the stream
    except zlib.error as exc:
        raise CorruptFileError(path, f"legacy metadata is not valid gzip data ({exc})") from None
    if not dec.eof:
        raise CorruptFileError(path, "legacy metadata is not valid gzip data (truncated stream)")
    return bytes(out)
