"""A small exact FITS reader/writer for the built-in engines: headers, images, binary tables.

Pure NumPy + the standard library, so the HSTCAL drop-ins (``caldp-calacs``, ``-calwf3``,
``-calstis``) start without importing ``astropy.io.fits`` (~0.15 s of astropy.units at every
start). It reads and writes what HST files and the simulator hold, and presents them as astropy
does, value for value:

- :class:`Header`: 80-character cards in file order; values and comments; HISTORY/COMMENT/blank
  cards; CONTINUE long strings. A card read from a file keeps its image until its value or
  comment changes; a new or changed card is formatted by the FITS standard's fixed-format rules
  the way astropy formats it (strings padded to 8 characters and to column 30, numbers right
  justified to column 30, floats as Python's shortest repr with ``E``), so products written through
  it are byte-identical to astropy's. Lookups, ``get``/``set``/``insert``/``remove``/``append``,
  ``add_history`` follow astropy's :class:`~astropy.io.fits.Header` placement rules.
- Images: BITPIX 8/16/32/64/-32/-64, big-endian on disk; BSCALE/BZERO applied as astropy does
  (``uint=True``: 16/32/64-bit with BZERO 2**(bits-1) become unsigned; otherwise float32 for 8/16-bit
  and float64 for 32/64-bit, multiplied then added in place); memory map on request.
- Binary tables with TFORM codes L, X (raw bytes), B, I, J, K, A, E, D, C, M and repeat counts;
  TSCALn/TZEROn (unsigned convention included); TDIMn. Columns come out as astropy's ``FITS_rec``
  gives them: logicals as bool, strings as ``str`` without trailing blanks, scaled columns as
  float64.
- :func:`open` reads the headers and finds each extension's data without reading it; the data of
  an HDU is read (one ``pread``) when first asked for.
- Writing: :func:`write` builds each HDU's structural cards as astropy does and writes the file
  under a temporary name, renamed into place.
"""

from __future__ import annotations

import builtins
import os
import re
import uuid
from pathlib import Path

import numpy as np

BLOCK = 2880
CARD = 80
COMMENTARY = frozenset(("COMMENT", "HISTORY", ""))
_MAXCOMMENTARY = CARD - 8  # value characters of one commentary card

__all__ = [
    "BLOCK",
    "Card",
    "Header",
    "HDU",
    "FitsFile",
    "TableData",
    "open",
    "getheader",
    "getdata",
    "image_hdu",
    "primary_hdu",
    "table_hdu",
    "write",
    "write_bytes",
]


class FitsError(ValueError):
    """A file or card this module cannot read or write."""


# ---------------------------------------------------------------------------------------------
# Cards

_INT_RE = re.compile(r"[+-]?\d+$")
_NUM_RE = re.compile(r"[+-]?(\.\d+|\d+(\.\d*)?)([DE][+-]?\d+)?$")
_ASCII_RE = re.compile(r"^[ -~]*$")


def format_float(value) -> str:
    """A float as astropy writes it: Python's ``str`` (shortest repr; NumPy's for NumPy scalars)
    with ``E``, the mantissa cut to keep 20 characters.

    >>> format_float(1.0), format_float(1e-05), format_float(np.float32(0.1))
    ('1.0', '1E-05', '0.1')
    """
    text = str(value).replace("e", "E")
    if len(text) > 20:
        at = text.find("E")
        text = text[:20] if at < 0 else text[: 20 - (len(text) - at)] + text[at:]
    return text


def format_value(value) -> str:
    """A value field as astropy's ``_format_value`` makes it (20 characters, right-justified numbers).

    >>> format_value("SCI"), format_value(True), format_value(12), format_value(-2.5)
    ("'SCI     '          ", '                   T', '                  12', '                -2.5')
    """
    if isinstance(value, str):
        if value == "":
            return "''"
        text = "'" + f"{value.replace(chr(39), chr(39) * 2):8}" + "'"
        return f"{text:20}"
    if isinstance(value, (bool, np.bool_)):
        return f"{'T' if value else 'F':>20}"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):>20d}"
    if isinstance(value, (float, np.floating)):
        return f"{format_float(value):>20}"
    if isinstance(value, (complex, np.complexfloating)):
        return f"{'(' + format_float(value.real) + ', ' + format_float(value.imag) + ')':>20}"
    return ""


def _words(text: str, width: int) -> list[str]:
    """Pieces of `text` at most `width` long, cut after a blank where one is near enough
    (astropy's ``_words_group``, which writes CONTINUE cards this way)."""
    blanks = [i for i, ch in enumerate(text + " ") if ch == " "]
    out, start, n = [], 0, len(text)
    while True:
        after = [b for b in blanks if b < width + start]
        end = after[-1] + 1 if after else -1
        if end <= start:
            end = min(start + width, n)
        out.append(text[start:end])
        if end >= n:
            return out
        start = end


def _parse_string(field: str) -> tuple[str, str] | None:
    """``(value, rest)`` of a field starting with a quote (``''`` is a quote), or None if unclosed."""
    i, n, chars = 1, len(field), []
    while i < n:
        ch = field[i]
        if ch == "'":
            if i + 1 < n and field[i + 1] == "'":
                chars.append("'")
                i += 2
                continue
            return "".join(chars), field[i + 1 :]
        chars.append(ch)
        i += 1
    return None


def _comment_of(rest: str) -> str:
    at = rest.find("/")
    return rest[at + 1 :].lstrip(" ").rstrip() if at >= 0 else ""


def _parse_number(token: str):
    if _INT_RE.match(token):
        return int(token)
    if _NUM_RE.match(token):
        return float(token.replace("D", "E"))
    raise FitsError(f"unparsable value {token!r}")


class Card:
    """One keyword card (a CONTINUE'd string is one card of several 80-character images).

    ``keyword``, ``value`` (a string loses its trailing blanks, as astropy gives it; an undefined
    value is None), ``comment``, ``image`` (the text written to the file)."""

    __slots__ = ("keyword", "_value", "_comment", "_image", "_numtext", "_valuemodified")

    def __init__(self, keyword: str = "", value=None, comment: str | None = None):
        keyword = keyword.strip().upper()
        if len(keyword) > 8:
            raise FitsError(f"keyword {keyword!r} is longer than 8 characters")
        self.keyword = keyword
        self._value = "" if value is None and keyword in COMMENTARY else _checked(value)
        self._comment = comment or ""
        self._image = None
        self._numtext = None
        self._valuemodified = False

    @classmethod
    def fromstring(cls, image: str) -> Card:
        """A card from its image (80 characters, or a string card and its CONTINUE cards)."""
        card = cls.__new__(cls)
        card._image = image
        card._numtext = None
        card._valuemodified = False
        keyword = image[:8].rstrip().upper()
        card.keyword = keyword
        if keyword in COMMENTARY or image[8:10] != "= ":
            card._value = "".join(image[i + 8 : i + CARD] for i in range(0, len(image), CARD)).rstrip()
            card._comment = ""
            return card
        if len(image) > CARD:  # CONTINUE'd string
            values, comments = [], []
            for i in range(0, len(image), CARD):
                field = image[i + 10 : i + CARD].lstrip(" ")
                parsed = _parse_string(field) if field.startswith("'") else None
                if parsed is None:
                    raise FitsError(f"bad CONTINUE card {image[i : i + CARD]!r}")
                value = parsed[0].rstrip()
                values.append(value[:-1] if value.endswith("&") else value)
                comment = _comment_of(parsed[1])
                if comment:
                    comments.append(comment)
            card._value, card._comment = "".join(values), " ".join(comments)
            return card
        field = image[10:].lstrip(" ")
        if field.startswith("'"):
            parsed = _parse_string(field)
            if parsed is None:
                raise FitsError(f"unterminated string in card {image!r}")
            card._value, card._comment = parsed[0], _comment_of(parsed[1])
            return card
        at = field.find("/")
        token = (field if at < 0 else field[:at]).strip()
        card._comment = _comment_of(field) if at >= 0 else ""
        if token == "T" or token == "F":
            card._value = token == "T"
        elif token == "":
            card._value = None
        elif token.startswith("("):
            re_im = token[1:-1].split(",")
            card._value = complex(_parse_number(re_im[0].strip()), _parse_number(re_im[1].strip()))
            card._numtext = token
        else:
            card._value = _parse_number(token)
            if isinstance(card._value, float):
                card._numtext = token
        return card

    @property
    def value(self):
        v = self._value
        return v.rstrip() if isinstance(v, str) else v

    @value.setter
    def value(self, value) -> None:
        value = _checked(value)
        old = self._value
        if isinstance(old, str) and isinstance(value, str):
            different = old.rstrip() != value.rstrip()
        elif isinstance(old, bool) or isinstance(value, bool):
            different = old is not value
        else:
            different = old != value or not isinstance(value, type(old))
        if different:
            self._value = value
            self._image = None
            self._numtext = None
            self._valuemodified = True

    @property
    def comment(self) -> str:
        return self._comment

    @comment.setter
    def comment(self, comment: str) -> None:
        comment = comment or ""
        if comment != self._comment:
            self._comment = comment
            self._image = None

    @property
    def image(self) -> str:
        if self._image is None:
            self._image = self._format()
        return self._image

    def _format(self) -> str:
        kw = f"{self.keyword:8}"
        if self.keyword in COMMENTARY:
            text = str(self._value)
            if len(text) <= _MAXCOMMENTARY:
                return f"{kw + text:80}"
            return "".join(f"{kw + text[i : i + _MAXCOMMENTARY]:80}" for i in range(0, len(text), _MAXCOMMENTARY))
        if self._numtext is not None and not self._valuemodified:
            value = f"{self._numtext:>20}"
        else:
            value = format_value(self._value)
        comment = f" / {self._comment}" if self._comment else ""
        out = f"{kw}= {value}{comment}"
        if len(out) <= CARD:
            return f"{out:80}"
        if isinstance(self._value, str) and len(value) > CARD - 10:
            return self._format_long()
        return out[:CARD]

    def _format_long(self) -> str:
        pieces = _words(self._value.replace("'", "''"), 67)
        out = []
        for i, piece in enumerate(pieces):
            head = f"{self.keyword:8}= " if i == 0 else "CONTINUE  "
            last = i == len(pieces) - 1 and not self._comment
            out.append(f"{head}'{piece}{'' if last else '&'}'".ljust(CARD))
        if self._comment:
            words = _words(self._comment, 64)
            for i, piece in enumerate(words):
                head = "CONTINUE  '' / " if i == len(words) - 1 else "CONTINUE  '&' / "
                out.append(f"{head + piece:80}")
        return "".join(out)

    def copy(self) -> Card:
        new = Card.__new__(Card)
        for name in Card.__slots__:
            setattr(new, name, getattr(self, name))
        return new

    @property
    def is_blank(self) -> bool:
        return self.keyword == "" and not self._value

    def __repr__(self) -> str:
        return f"Card({self.image!r})"


def _checked(value):
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, str):
        if not _ASCII_RE.match(value):
            raise FitsError(f"header values must be printable ASCII: {value!r}")
    elif isinstance(value, (float, np.floating)):
        if not np.isfinite(value):
            raise FitsError(f"floating point {value!r} values are not allowed in FITS headers")
    elif value is not None and not isinstance(value, (int, complex, np.integer, np.complexfloating)):
        raise FitsError(f"illegal header value {value!r}")
    return value


# ---------------------------------------------------------------------------------------------
# Headers


class _Comments:
    def __init__(self, header: Header):
        self._header = header

    def __getitem__(self, key) -> str:
        return self._header._cards[self._header._at(key)].comment

    def __setitem__(self, key, comment: str) -> None:
        self._header._cards[self._header._at(key)].comment = comment


class Header:
    """An ordered list of cards with astropy's :class:`~astropy.io.fits.Header` lookups and
    placement rules (the subset the engines use)."""

    __slots__ = ("_cards", "_index")

    def __init__(self, cards=None):
        self._cards: list[Card] = []
        self._index = None
        if isinstance(cards, Header):
            self._cards = [c.copy() for c in cards._cards]
        elif isinstance(cards, dict):
            for key, value in cards.items():
                self.append(Card(key, *value) if isinstance(value, tuple) else Card(key, value), end=True)
        elif cards:
            for c in cards:
                self.append(c if isinstance(c, Card) else Card(*c), end=True)

    # -- construction ------------------------------------------------------------------------
    @classmethod
    def fromstring(cls, text: str) -> Header:
        """A header from its text (80-character cards; stops at END)."""
        hdr = cls()
        images: list[str] = []
        for i in range(0, len(text) - CARD + 1, CARD):
            image = text[i : i + CARD]
            if image.startswith("END") and not image[3:].strip():
                break
            if image.startswith("CONTINUE") and images and _continues(images[-1]):
                images[-1] += image
            else:
                images.append(image)
        hdr._cards = [Card.fromstring(im) for im in images]
        return hdr

    def tostring(self) -> str:
        """The header as written: its cards, END, blanks to a multiple of 2880 characters."""
        text = "".join(c.image for c in self._cards) + f"{'END':80}"
        return text + " " * (-len(text) % BLOCK)

    def copy(self) -> Header:
        return Header(self)

    # -- lookups -----------------------------------------------------------------------------
    def _keyword_index(self) -> dict[str, list[int]]:
        if self._index is None:
            index: dict[str, list[int]] = {}
            for i, c in enumerate(self._cards):
                index.setdefault(c.keyword, []).append(i)
            self._index = index
        return self._index

    def _at(self, key) -> int:
        """The card index of `key`: a keyword (first card), ``(keyword, n)`` or an int."""
        if isinstance(key, (int, np.integer)):
            n = len(self._cards)
            if not -n <= key < n:
                raise IndexError(f"header index {key} out of range")
            return int(key) % n
        n = 0
        if isinstance(key, tuple):
            key, n = key
        found = self._keyword_index().get(key.strip().upper())
        if not found or n >= len(found):
            raise KeyError(f"Keyword {key!r} not found.")
        return found[n]

    def __contains__(self, key) -> bool:
        return key.strip().upper() in self._keyword_index()

    def __getitem__(self, key):
        if isinstance(key, str) and key.strip().upper() in COMMENTARY:
            found = self._keyword_index().get(key.strip().upper())
            if not found:
                raise KeyError(f"Keyword {key!r} not found.")
            return [self._cards[i].value for i in found]
        return self._cards[self._at(key)].value

    def get(self, key, default=None):
        try:
            return self[key]
        except (KeyError, IndexError):
            return default

    def __len__(self) -> int:
        return len(self._cards)

    def __iter__(self):
        return (c.keyword for c in self._cards)

    def keys(self):
        return [c.keyword for c in self._cards]

    def values(self):
        return [c.value for c in self._cards]

    def items(self):
        return [(c.keyword, c.value) for c in self._cards]

    @property
    def cards(self) -> list[Card]:
        return list(self._cards)

    @property
    def comments(self) -> _Comments:
        return _Comments(self)

    def index(self, keyword: str, start: int | None = None, stop: int | None = None) -> int:
        keyword = keyword.strip().upper()
        for i in range(len(self._cards))[slice(start, stop)]:
            if self._cards[i].keyword == keyword:
                return i
        raise ValueError(f"The keyword {keyword!r} is not in the header.")

    def count(self, keyword: str) -> int:
        return len(self._keyword_index().get(keyword.strip().upper(), ()))

    # -- changes -----------------------------------------------------------------------------
    def __setitem__(self, key, value) -> None:
        comment = None
        if isinstance(value, tuple):
            if len(value) == 1:
                value = value[0]
            elif len(value) == 2:
                value, comment = value
            else:
                raise ValueError(f"a header value is value or (value, comment), not {value!r}")
        if isinstance(key, (int, np.integer)):
            card = self._cards[self._at(key)]
            card.value = value
            if comment is not None:
                card.comment = comment
            return
        self._update(key, value, comment)

    def _update(self, keyword: str, value, comment) -> None:
        keyword = keyword.strip().upper()
        index = self._keyword_index()
        if keyword not in COMMENTARY and keyword in index:
            card = self._cards[index[keyword][0]]
            card.value = value
            if comment is not None:
                card.comment = comment
        elif keyword in COMMENTARY:
            cards = _split_commentary(keyword, value)
            if keyword in index:
                at = index[keyword][-1]
                blank = not (keyword or value or comment)
                for c in reversed(cards):
                    self.insert(at + 1, c, useblanks=not blank)
            else:
                for c in cards:
                    self.append(c, bottom=True)
        else:
            self.append(Card(keyword, value, comment))

    def set(self, keyword: str, value=None, comment=None, before=None, after=None) -> None:
        """astropy's ``Header.set``: update or add, optionally before/after another card."""
        keyword = keyword.strip().upper()
        if keyword in self and keyword not in COMMENTARY:
            card = self._cards[self._at(keyword)]
            if value is not None:
                card.value = value
            if comment is not None:
                card.comment = comment
            if before is not None or after is not None:
                card = self._cards.pop(self._at(keyword))
                self._index = None
                self._relative_insert(card, before, after)
            return
        if before is None and after is None:
            self._update(keyword, value, comment)
        else:
            self._relative_insert(Card(keyword, value, comment), before, after)

    def _relative_insert(self, card: Card, before, after) -> None:
        if before is not None:
            self.insert(self._at(before), card)
        else:
            self.insert(self._at(after) + 1, card)

    def append(self, card=None, useblanks: bool = True, bottom: bool = False, end: bool = False) -> None:
        """astropy's ``Header.append``: after the last non-blank card, and unless `bottom`, before a
        trailing run of commentary cards; `end` appends at the very end."""
        card = _as_card(card)
        if not end and card.is_blank:
            end = True
        if end:
            self._cards.append(card)
        else:
            at = len(self._cards) - 1
            while at >= 0 and self._cards[at].is_blank:
                at -= 1
            if not bottom and card.keyword not in COMMENTARY:
                while at >= 0 and self._cards[at].keyword in COMMENTARY:
                    at -= 1
            self._cards.insert(at + 1, card)
        self._index = None
        if useblanks and not end:
            self._useblanks(len(card.image) // CARD)

    def extend(self, cards) -> None:
        for c in cards:
            self.append(c)

    def insert(self, key, card, useblanks: bool = True, after: bool = False) -> None:
        """astropy's ``Header.insert``: before the card `key` (index or keyword), or after it."""
        at = key if isinstance(key, (int, np.integer)) else self._at(key)
        if after:
            at = at + 1 if at != -1 else len(self._cards)
        at = int(at)
        card = _as_card(card)
        if at >= len(self._cards):
            self.append(card, end=True)
            return
        self._cards.insert(at, card)
        self._index = None
        if useblanks:
            self._useblanks(len(card.image) // CARD)

    def _useblanks(self, count: int) -> None:
        for _ in range(count):
            if self._cards and self._cards[-1].is_blank:
                del self._cards[-1]
                self._index = None
            else:
                break

    def __delitem__(self, key) -> None:
        if isinstance(key, str) and not isinstance(key, tuple):
            found = self._keyword_index().get(key.strip().upper())
            if not found:
                raise KeyError(f"Keyword {key!r} not found.")
            for i in reversed(found):
                del self._cards[i]
        else:
            del self._cards[self._at(key)]
        self._index = None

    def remove(self, keyword: str, ignore_missing: bool = False, remove_all: bool = False) -> None:
        found = self._keyword_index().get(keyword.strip().upper())
        if not found:
            if ignore_missing:
                return
            raise KeyError(f"Keyword {keyword!r} not found.")
        for i in reversed(found if remove_all else found[:1]):
            del self._cards[i]
        self._index = None

    def pop(self, key, *default):
        try:
            value = self[key]
        except (KeyError, IndexError):
            if default:
                return default[0]
            raise
        del self._cards[self._at(key)]
        self._index = None
        return value

    def update(self, other) -> None:
        items = other.items() if hasattr(other, "items") else other
        for key, value in items:  # astropy: a bare value clears the comment
            value, comment = value if isinstance(value, tuple) else (value, "")
            self._update(key, value, comment)

    def add_history(self, value: str, before=None, after=None) -> None:
        self._add_commentary("HISTORY", value, before, after)

    def add_comment(self, value: str, before=None, after=None) -> None:
        self._add_commentary("COMMENT", value, before, after)

    def add_blank(self, value: str = "", before=None, after=None) -> None:
        self._add_commentary("", value, before, after)

    def _add_commentary(self, keyword: str, value: str, before, after) -> None:
        if before is not None or after is not None:
            for card in (
                reversed(_split_commentary(keyword, value)) if after is not None else _split_commentary(keyword, value)
            ):
                self._relative_insert(card, before, after)
        else:
            self._update(keyword, value, None)

    def __eq__(self, other) -> bool:
        if not isinstance(other, Header):
            return NotImplemented
        return [c.image for c in self._cards] == [c.image for c in other._cards]

    __hash__ = None

    def __repr__(self) -> str:
        return "\n".join(c.image[i : i + CARD] for c in self._cards for i in range(0, len(c.image), CARD))


def _continues(image: str) -> bool:
    """True if the last piece of a (possibly already continued) string card ends with ``&'``."""
    last = image[-CARD:]
    if last[8:10] != "= " and not last.startswith("CONTINUE"):
        return False
    field = last[10:].lstrip(" ")
    if not field.startswith("'"):
        return False
    parsed = _parse_string(field)
    return parsed is not None and parsed[0].rstrip().endswith("&")


def _as_card(card) -> Card:
    if isinstance(card, Card):
        return card
    if card is None:
        return Card()
    if isinstance(card, str):
        return Card(card)
    return Card(*card)


def _split_commentary(keyword: str, value) -> list[Card]:
    text = str(value)
    if len(text) <= _MAXCOMMENTARY:
        return [Card(keyword, value)]
    return [Card(keyword, text[i : i + _MAXCOMMENTARY]) for i in range(0, len(text), _MAXCOMMENTARY)]


# ---------------------------------------------------------------------------------------------
# Data layout

_BITPIX_DTYPES = {8: "u1", 16: "i2", 32: "i4", 64: "i8", -32: "f4", -64: "f8"}
_DTYPE_BITPIX = {
    "u1": 8,
    "i1": 8,
    "i2": 16,
    "i4": 32,
    "i8": 64,
    "f4": -32,
    "f8": -64,
    "u2": 16,
    "u4": 32,
    "u8": 64,
    "b1": 8,
}
_TFORM_RE = re.compile(r"^\s*(\d*)([LXBIJKAEDCMPQ])")
_TFORM_DTYPES = {
    "L": "i1",
    "X": "u1",
    "B": "u1",
    "I": ">i2",
    "J": ">i4",
    "K": ">i8",
    "E": ">f4",
    "D": ">f8",
    "C": ">c8",
    "M": ">c16",
}
_UNSIGNED = {"I": (1 << 15, np.uint16), "J": (1 << 31, np.uint32), "K": (1 << 63, np.uint64)}


def _data_size(hdr: Header) -> int:
    naxis = int(hdr.get("NAXIS", 0))
    if naxis == 0:
        return 0
    n = 1
    for i in range(1, naxis + 1):
        n *= int(hdr[f"NAXIS{i}"])
    return abs(int(hdr["BITPIX"])) // 8 * int(hdr.get("GCOUNT", 1)) * (int(hdr.get("PCOUNT", 0)) + n)


def _image_shape(hdr: Header) -> tuple[int, ...]:
    naxis = int(hdr.get("NAXIS", 0))
    return tuple(int(hdr[f"NAXIS{i}"]) for i in range(naxis, 0, -1))


def _scale_image(raw: np.ndarray, bitpix: int, bscale, bzero, uint: bool, inplace: bool = False) -> np.ndarray:
    """Physical values of a stored image (either byte order) as astropy's ``_scale_data`` gives
    them; `inplace`: `raw` is native and may be reused for the unsigned conventions (no copy)."""
    if bscale == 1 and bzero == 0:
        return raw
    if uint and bscale == 1 and bitpix in (16, 32, 64) and bzero == 1 << (bitpix - 1):
        unsigned = np.dtype(f"u{bitpix // 8}")
        flip = np.array(1 << (bitpix - 1), unsigned)
        if inplace:
            out = raw.view(unsigned)
            out ^= flip
            return out
        out = np.empty(raw.shape, unsigned)
        np.bitwise_xor(raw.view(unsigned.newbyteorder(raw.dtype.byteorder)), flip, out=out)
        return out
    if uint and bscale == 1 and bitpix == 8 and bzero == -128:
        return np.bitwise_xor(raw, np.uint8(0x80)).view(np.int8)
    dtype = np.float64 if bitpix > 16 else np.float32 if bitpix > 0 else raw.dtype.newbyteorder("=")
    data = np.array(raw, dtype=dtype)
    if bscale != 1:
        np.multiply(data, bscale, data)
    if bzero != 0:
        data += bzero
    return data


class Column:
    """One binary-table column's definition."""

    __slots__ = ("name", "format", "code", "repeat", "offset", "dtype", "unit", "scale", "zero", "dim", "null", "disp")

    def __init__(
        self,
        name,
        format,
        code,
        repeat,
        offset,
        dtype,
        unit=None,
        scale=None,
        zero=None,
        dim=None,
        null=None,
        disp=None,
    ):
        self.name, self.format, self.code, self.repeat, self.offset = name, format, code, repeat, offset
        self.dtype, self.unit, self.scale, self.zero, self.dim = dtype, unit, scale, zero, dim
        self.null, self.disp = null, disp

    def __repr__(self) -> str:
        return f"Column(name={self.name!r}, format={self.format!r})"


class Columns(list):
    """The columns of a table, with ``names`` and ``formats`` as astropy's ``ColDefs`` has them."""

    @property
    def names(self) -> list[str]:
        return [c.name for c in self]

    @property
    def formats(self) -> list[str]:
        return [c.format for c in self]


def table_columns(hdr: Header) -> Columns:
    """The column definitions of a BINTABLE header."""
    cols = Columns()
    offset = 0
    for i in range(1, int(hdr.get("TFIELDS", 0)) + 1):
        tform = str(hdr[f"TFORM{i}"]).strip().upper()
        m = _TFORM_RE.match(tform)
        if not m:
            raise FitsError(f"TFORM{i} = {tform!r} is not supported")
        repeat = int(m.group(1)) if m.group(1) else 1
        code = m.group(2)
        if code in "PQ":
            raise FitsError(f"TFORM{i} = {tform!r}: variable-length arrays are not supported")
        if code == "A":
            dtype, nbytes = np.dtype(f"S{repeat}"), repeat
        elif code == "X":
            nbytes = (repeat + 7) // 8
            dtype = np.dtype(("u1", (nbytes,))) if nbytes != 1 else np.dtype("u1")
        else:
            base = np.dtype(_TFORM_DTYPES[code])
            dtype = base if repeat == 1 else np.dtype((base, (repeat,)))
            nbytes = base.itemsize * repeat
        dim = hdr.get(f"TDIM{i}")
        if dim is not None:
            dim = tuple(int(d) for d in str(dim).strip().strip("()").split(",") if d.strip())[::-1]
        cols.append(
            Column(
                str(hdr.get(f"TTYPE{i}", "")).strip() or f"col{i}",
                tform,
                code,
                repeat,
                offset,
                dtype,
                hdr.get(f"TUNIT{i}"),
                hdr.get(f"TSCAL{i}"),
                hdr.get(f"TZERO{i}"),
                dim,
                hdr.get(f"TNULL{i}"),
                hdr.get(f"TDISP{i}"),
            )
        )
        offset += nbytes
    return cols


class TableData:
    """A binary table's rows as stored (big-endian bytes) with column access by name.

    ``data["WAVELENGTH"]`` (case-insensitive, or ``data.field(name_or_index)``) is the column's
    physical values as astropy's ``FITS_rec`` gives them; ``len(data)`` rows; ``data[i]`` a row
    (:class:`Row`); ``data.columns.names``."""

    def __init__(self, raw: np.ndarray, columns: Columns):
        self._raw = raw  # (nrows, rowbytes) uint8
        self.columns = columns
        self._lookup = {c.name.upper(): i for i, c in reversed(list(enumerate(columns)))}
        self._cache: dict[int, np.ndarray] = {}

    @property
    def names(self) -> list[str]:
        return self.columns.names

    @property
    def dtype(self) -> np.dtype:
        """The stored row layout (big-endian; ``dtype.names`` are the column names)."""
        return np.dtype(
            {
                "names": self.names,
                "formats": [c.dtype for c in self.columns],
                "offsets": [c.offset for c in self.columns],
                "itemsize": self._raw.shape[1],
            }
        )

    def __len__(self) -> int:
        return self._raw.shape[0]

    def _col(self, key) -> int:
        if isinstance(key, (int, np.integer)):
            return int(key)
        try:
            return self._lookup[key.strip().upper()]
        except KeyError:
            raise KeyError(f"Key {key!r} does not exist.") from None

    def field(self, key) -> np.ndarray:
        i = self._col(key)
        out = self._cache.get(i)
        if out is None:
            out = self._cache[i] = self._convert(self.columns[i])
        return out

    def __getitem__(self, key):
        if isinstance(key, str):
            return self.field(key)
        if isinstance(key, (int, np.integer)):
            n = len(self)
            if not -n <= key < n:
                raise IndexError(f"row {key} out of range")
            return Row(self, int(key) % n)
        return TableData(self._raw[key], self.columns)

    def __iter__(self):
        return (Row(self, i) for i in range(len(self)))

    def copy(self) -> TableData:
        self.sync()
        return TableData(self._raw.copy(), self.columns)

    def sync(self) -> None:
        """Store the columns handed out back into the rows (a column array changed in place, as
        astropy's ``FITS_rec`` views allow, is written with the table)."""
        for i, values in self._cache.items():
            col = self.columns[i]
            if col.code in "XCM" or np.array_equal(values, self._convert(col)):
                continue  # unchanged: the stored bytes stay as they are
            if col.scale is not None or (col.zero is not None and col.zero != _UNSIGNED.get(col.code, (None,))[0]):
                raise FitsError(f"column {col.name}: writing scaled columns is not supported")
            n = len(self)
            if col.code == "L":
                stored = np.where(values, np.uint8(ord("T")), np.uint8(ord("F")))
            elif col.code == "A":  # blank-padded, as astropy stores a changed string column
                stored = np.char.encode(np.char.ljust(values, col.repeat), "ascii").astype(col.dtype)
            elif col.zero is not None:
                kind = np.dtype(_UNSIGNED[col.code][1])
                stored = (values.astype(kind) ^ kind.type(col.zero)).astype(kind.newbyteorder(">"))
            else:
                stored = values.astype(col.dtype.base.newbyteorder(">"))
            block = np.ascontiguousarray(stored).reshape(n, -1).view(np.uint8).reshape(n, -1)
            self._raw[:, col.offset : col.offset + col.dtype.itemsize] = block

    def put(self, key, row: int, value) -> None:
        """Store `value` in column `key` of `row` (logical, string or unscaled numeric columns)."""
        col = self.columns[self._col(key)]
        if col.scale is not None or col.zero is not None:
            raise FitsError(f"column {col.name}: writing scaled columns is not supported")
        cell = self._raw[row, col.offset : col.offset + col.dtype.itemsize]
        if col.code == "L":
            stored = np.array(ord("T") if value else ord("F"), np.uint8)
        elif col.code == "A":
            stored = np.array(str(value).encode("ascii"), col.dtype)
        else:
            stored = np.asarray(value, col.dtype.base.newbyteorder(">"))
        cell[...] = np.frombuffer(stored.tobytes(), np.uint8)
        self._cache.pop(self._col(key), None)

    def _convert(self, col: Column) -> np.ndarray:
        nrows = len(self)
        nbytes = col.dtype.itemsize
        block = np.ascontiguousarray(self._raw[:, col.offset : col.offset + nbytes])
        if col.code == "A":
            strings = block.view(col.dtype).reshape(nrows)
            out = np.char.rstrip(np.char.decode(strings, "ascii"))
            return out.astype(f"U{max(col.repeat, 1)}") if out.size else out.astype("U1")
        if col.code == "X":
            return block.view(np.uint8).reshape((nrows,) + ((nbytes,) if nbytes > 1 else ()))
        base = col.dtype.base
        flat = block.view(base).reshape((nrows,) + ((col.repeat,) if col.repeat > 1 else ()))
        if col.code == "L":
            out = flat == ord("T")
        else:
            out = flat.astype(base.newbyteorder("="))
            scale = 1 if col.scale is None else col.scale
            zero = 0 if col.zero is None else col.zero
            if (scale != 1 or zero != 0) and col.code in "BIJKED":
                unsigned = _UNSIGNED.get(col.code)
                if unsigned and scale == 1 and zero == unsigned[0]:
                    out = out.view(unsigned[1]) ^ unsigned[1](unsigned[0])
                else:
                    out = np.array(out, dtype=np.float64)
                    if scale != 1:
                        np.multiply(out, scale, out)
                    if zero != 0:
                        out += zero
        if col.dim is not None and col.repeat > 1 and int(np.prod(col.dim)) == col.repeat:
            out = out.reshape((nrows,) + col.dim)
        return out


class Row:
    """One table row: ``row["NAME"]`` or ``row[index]`` is that column's value in this row."""

    __slots__ = ("_table", "_i")

    def __init__(self, table: TableData, i: int):
        self._table, self._i = table, i

    @property
    def array(self) -> TableData:
        """The table of this row (as a ``FITS_record``'s ``array``)."""
        return self._table

    def __getitem__(self, key):
        return self._table.field(key)[self._i]

    def __len__(self) -> int:
        return len(self._table.columns)

    def __iter__(self):
        return (self._table.field(k)[self._i] for k in range(len(self._table.columns)))


# ---------------------------------------------------------------------------------------------
# HDUs and files


class HDU:
    """One header-data unit: ``header``, ``data`` (read when first asked for), ``name``, ``ver``."""

    def __init__(self, header: Header, data=None, *, _source=None):
        self.header = header
        self._data = data
        self._source = _source  # (path, offset, size, memmap, uint, scale)

    @property
    def name(self) -> str:
        return str(self.header.get("EXTNAME", "PRIMARY" if "SIMPLE" in self.header else "")).strip().upper()

    @property
    def ver(self) -> int:
        return int(self.header.get("EXTVER", 1))

    @property
    def is_table(self) -> bool:
        return str(self.header.get("XTENSION", "")).strip().upper() == "BINTABLE"

    @property
    def columns(self) -> Columns:
        return table_columns(self.header)

    @property
    def shape(self) -> tuple[int, ...]:
        return _image_shape(self.header)

    @property
    def data_offset(self) -> int | None:
        """Where the data start in the file read (None for an HDU not read from a file)."""
        return None if self._source is None else self._source[1]

    @property
    def data(self):
        if self._data is None and self._source is not None:
            self._data = self._read()
        return self._data

    @data.setter
    def data(self, value) -> None:
        self._data = value
        self._source = None

    @data.deleter
    def data(self) -> None:
        """Forget the data read (read again from the file if asked for again)."""
        self._data = None

    def _read(self):
        path, offset, size, memmap, uint, scale = self._source
        hdr = self.header
        if self.is_table:  # an empty table too (astropy gives one with no rows)
            nrows, width = int(hdr["NAXIS2"]), int(hdr["NAXIS1"])
            raw = _read_bytes(path, offset, nrows * width, memmap).reshape(nrows, width)
            return TableData(raw, table_columns(hdr))
        if size == 0:
            return None
        bitpix = int(hdr["BITPIX"])
        shape = _image_shape(hdr)
        disk = np.dtype(_BITPIX_DTYPES[bitpix]).newbyteorder(">")
        count = int(np.prod(shape))
        raw = _read_bytes(path, offset, count * disk.itemsize, memmap).view(disk).reshape(shape)
        if not memmap:  # our own buffer: to native order in place (no second copy of the image)
            raw = raw.byteswap(inplace=True).view(disk.newbyteorder("="))
        bscale, bzero = hdr.get("BSCALE", 1), hdr.get("BZERO", 0)
        if not scale or (bscale == 1 and bzero == 0):
            return raw
        return _scale_image(raw, bitpix, bscale, bzero, uint, inplace=not memmap)

    def __repr__(self) -> str:
        return f"<HDU {self.name or '?'},{self.ver} {self.shape}>"


def _read_bytes(path, offset: int, nbytes: int, memmap: bool) -> np.ndarray:
    if memmap:
        return np.memmap(path, dtype=np.uint8, mode="r", offset=offset, shape=(nbytes,))
    out = np.empty(nbytes, np.uint8)
    with builtins.open(path, "rb", buffering=0) as f:
        f.seek(offset)
        got = f.readinto(out)
    if got != nbytes:
        raise FitsError(f"{Path(path).name}: data truncated ({got} of {nbytes} bytes at {offset})")
    return out


class FitsFile(list):
    """The HDUs of a file, in order; index by position, by EXTNAME or by ``(EXTNAME, EXTVER)``."""

    def __init__(self, hdus=(), path=None):
        super().__init__(hdus)
        self.path = path

    def __getitem__(self, key):
        if isinstance(key, (str, tuple)):
            return super().__getitem__(self.index_of(key))
        return super().__getitem__(key)

    def index_of(self, key) -> int:
        name, ver = (key, None) if isinstance(key, str) else key
        name = name.strip().upper()
        for i, hdu in enumerate(self):
            if hdu.name == name and (ver is None or hdu.ver == ver):
                return i
        raise KeyError(f"Extension {key!r} not found.")

    def __contains__(self, key) -> bool:
        if isinstance(key, (str, tuple)):
            try:
                self.index_of(key)
            except KeyError:
                return False
            return True
        return super().__contains__(key)

    def close(self) -> None:
        pass

    def writeto(self, path, overwrite: bool = False) -> Path:
        """Write these HDUs to `path` (:func:`write`; astropy's ``HDUList.writeto`` name)."""
        return write(self, path, overwrite=overwrite)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _read_header(f, path, at: int) -> tuple[Header, int] | None:
    """The header starting at byte `at` and the offset just after it (None at the end of the file)."""
    chunks = []
    while True:
        block = f.read(BLOCK)
        if not block:
            if chunks:
                raise FitsError(f"{Path(path).name}: header without END at byte {at}")
            return None
        if len(block) < BLOCK:
            if not chunks and not block.strip(b"\0 "):
                return None
            raise FitsError(f"{Path(path).name}: truncated header at byte {at}")
        chunks.append(block)
        text = block.decode("ascii", errors="replace")
        if any(text[i : i + 3] == "END" and not text[i + 3 : i + CARD].strip() for i in range(0, BLOCK, CARD)):
            break
    text = b"".join(chunks).decode("ascii", errors="replace")
    return Header.fromstring(text), at + len(chunks) * BLOCK


def open(path, *, memmap: bool = False, uint: bool = True, scale: bool = True) -> FitsFile:  # noqa: A001
    """The HDUs of a FITS file: every header is read, data are found but not read (each HDU's
    ``data`` reads its bytes when first asked for). `memmap` maps the data instead of reading it
    (images then come big-endian as stored); `scale` False gives stored image values (astropy's
    ``do_not_scale_image_data``)."""
    path = os.fspath(path)
    hdus = FitsFile(path=path)
    with builtins.open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        at = 0
        while at < size:
            f.seek(at)
            got = _read_header(f, path, at)
            if got is None:
                break
            hdr, data_at = got
            nbytes = _data_size(hdr)
            if data_at + nbytes > size:
                raise FitsError(f"{Path(path).name}: HDU {len(hdus)} data truncated")
            hdus.append(HDU(hdr, _source=(path, data_at, nbytes, memmap, uint, scale)))
            at = data_at + nbytes + (-nbytes % BLOCK)
    if not hdus:
        raise FitsError(f"{Path(path).name}: empty or not a FITS file")
    return hdus


def getheader(path, ext=0) -> Header:
    """The header of one extension (by index, EXTNAME or ``(EXTNAME, EXTVER)``)."""
    return open(path)[ext].header


def getdata(path, ext=None):
    """The data of one extension (by default the first with data, as astropy's ``getdata``)."""
    hdus = open(path)
    if ext is not None:
        return hdus[ext].data
    for hdu in hdus:
        if _data_size(hdu.header):
            return hdu.data
    raise FitsError(f"{Path(path).name}: no data")


# ---------------------------------------------------------------------------------------------
# Writing

#: Keywords an HDU's layout decides, in the order astropy writes them (never copied from a user header).
STRUCTURAL = ("SIMPLE", "XTENSION", "BITPIX", "NAXIS", "EXTEND", "PCOUNT", "GCOUNT", "TFIELDS")
_STRUCT_RE = re.compile(r"^(NAXIS\d+|TTYPE\d+|TFORM\d+|TUNIT\d+|TSCAL\d+|TZERO\d+|TDIM\d+|TNULL\d+|TDISP\d+)$")


def is_structural(keyword: str) -> bool:
    return keyword in STRUCTURAL or bool(_STRUCT_RE.match(keyword))


def _image_top(primary: bool, shape: tuple[int, ...] | None, bitpix: int) -> list[Card]:
    """The structural cards astropy puts at the top of a primary or image HDU."""
    cards = [
        Card("SIMPLE", True, "conforms to FITS standard") if primary else Card("XTENSION", "IMAGE", "Image extension"),
        Card("BITPIX", bitpix, "array data type"),
        Card("NAXIS", 0 if shape is None else len(shape), "number of array dimensions"),
    ]
    for i, n in enumerate(reversed(shape or ())):
        cards.append(Card(f"NAXIS{i + 1}", int(n)))
    if not primary:
        cards += [Card("PCOUNT", 0, "number of parameters"), Card("GCOUNT", 1, "number of groups")]
    return cards


def _body(header: Header | None, drop=()) -> list[Card]:
    if header is None:
        return []
    return [c for c in header._cards if not is_structural(c.keyword) and c.keyword not in drop]


def primary_hdu(header: Header | None = None, data: np.ndarray | None = None) -> HDU:
    """A primary HDU as astropy's ``PrimaryHDU(data, header)`` lays it out (unscaled data)."""
    return _image(True, header, data)


def image_hdu(header: Header | None = None, data: np.ndarray | None = None) -> HDU:
    """An IMAGE extension as astropy's ``ImageHDU(data, header)`` lays it out (unscaled data)."""
    return _image(False, header, data)


def _image(primary: bool, header, data) -> HDU:
    if data is not None:
        data = np.asarray(data)
        key = data.dtype.str[1:]
        if data.dtype.kind not in "iuf" or key not in _DTYPE_BITPIX or data.dtype.kind == "u" and key != "u1":
            raise FitsError(f"image data of type {data.dtype} are not written by this module")
    bitpix = 8 if data is None else _DTYPE_BITPIX[data.dtype.str[1:]]
    out = Header()
    out._cards = _image_top(primary, None if data is None else data.shape, bitpix)
    if primary and (header is None or "EXTEND" in header):
        out._cards.append(Card("EXTEND", True if header is None else header["EXTEND"]))
    out._cards += [c.copy() for c in _body(header, ("BSCALE", "BZERO"))]
    return HDU(out, data)


def table_hdu(columns: list[tuple], header: Header | None = None, nrows: int | None = None) -> HDU:
    """A BINTABLE extension laid out as astropy's ``BinTableHDU.from_columns`` writes it.

    `columns`: ``(name, tform, array[, unit[, extra]])`` — TFORM as written (``"1J"``, ``"8A"``,
    ``"1024E"``), the array of the column's physical values, and `extra` a dict of ``null``,
    ``zero`` (only the unsigned convention: TZERO 2**15/2**31/2**63 on I/J/K), ``disp`` and ``dim``
    (the TDIM string). Cards per column in astropy's order (TTYPE, TFORM, TUNIT, TNULL, TSCAL,
    TZERO, TDISP, TDIM), then `header`'s own cards."""
    cols = Columns()
    arrays = []
    offset = 0
    for spec in columns:
        name, tform, array = spec[:3]
        unit = spec[3] if len(spec) > 3 else None
        extra = dict(spec[4]) if len(spec) > 4 and spec[4] else {}
        m = _TFORM_RE.match(tform)
        if not m or m.group(2) in "PQX":
            raise FitsError(f"TFORM {tform!r} is not written by this module")
        repeat = int(m.group(1)) if m.group(1) else 1
        code = m.group(2)
        if code == "A":
            dtype = np.dtype(f"S{repeat}")
        else:
            base = np.dtype(_TFORM_DTYPES[code])
            dtype = base if repeat == 1 else np.dtype((base, (repeat,)))
        zero = extra.get("zero")
        if zero is not None and (code not in _UNSIGNED or zero != _UNSIGNED[code][0]):
            raise FitsError(f"column {name}: only the unsigned TZERO convention is written by this module")
        cols.append(
            Column(
                name,
                tform,
                code,
                repeat,
                offset,
                dtype,
                unit,
                None,
                zero,
                extra.get("dim"),
                extra.get("null"),
                extra.get("disp"),
            )
        )
        arrays.append(array)
        offset += dtype.itemsize
    n = nrows if nrows is not None else (len(arrays[0]) if arrays else 0)
    raw = np.zeros((n, offset), np.uint8)
    for col, array in zip(cols, arrays, strict=True):
        values = np.asarray(array)
        if col.code == "A":
            stored = (np.char.encode(values, "ascii") if values.dtype.kind == "U" else values).astype(col.dtype)
        elif col.code == "L":
            stored = np.where(values.astype(bool), np.int8(ord("T")), np.int8(ord("F")))
        elif col.zero is not None:
            kind = np.dtype(_UNSIGNED[col.code][1])
            stored = (values.astype(kind) ^ kind.type(col.zero)).astype(kind.newbyteorder(">"))
        else:
            stored = values.astype(col.dtype.base.newbyteorder(">"))
        raw[:, col.offset : col.offset + col.dtype.itemsize] = stored.reshape(n, -1).view(np.uint8).reshape(n, -1)
    hdr = Header()
    hdr._cards = [
        Card("XTENSION", "BINTABLE", "binary table extension"),
        Card("BITPIX", 8, "array data type"),
        Card("NAXIS", 2, "number of array dimensions"),
        Card("NAXIS1", offset, "length of dimension 1"),
        Card("NAXIS2", n, "length of dimension 2"),
        Card("PCOUNT", 0, "number of group parameters"),
        Card("GCOUNT", 1, "number of groups"),
        Card("TFIELDS", len(cols), "number of table fields"),
    ]
    for i, col in enumerate(cols, 1):
        for key, value in (
            ("TTYPE", col.name),
            ("TFORM", col.format),
            ("TUNIT", col.unit),
            ("TNULL", col.null),
            ("TZERO", col.zero),
            ("TDISP", col.disp),
            ("TDIM", col.dim),
        ):
            if value is not None and value != "":
                hdr._cards.append(Card(f"{key}{i}", value))
    hdr._cards += [c.copy() for c in _body(header)]
    hdu = HDU(hdr)
    hdu.data = TableData(raw, table_columns(hdr))
    return hdu


def _data_bytes(hdu: HDU):
    """Pieces of an HDU's data as written (big-endian), without its padding."""
    data = hdu.data
    if data is None:
        return
    if isinstance(data, TableData):
        data.sync()
        yield np.ascontiguousarray(data._raw).reshape(-1)
        return
    flat = np.ascontiguousarray(data).reshape(-1)
    big = flat.dtype.newbyteorder(">")
    step = max(1, (1 << 20) // max(flat.itemsize, 1))
    for i in range(0, flat.size, step):
        yield flat[i : i + step].astype(big, copy=False)


def update_extend(hdus) -> None:
    """EXTEND = T in a primary header followed by extensions, as astropy's ``writeto`` sets it
    (added after the NAXISn cards if missing)."""
    if len(hdus) < 2 or "SIMPLE" not in hdus[0].header:
        return
    hdr = hdus[0].header
    if "EXTEND" in hdr:
        if not hdr["EXTEND"]:
            hdr["EXTEND"] = True
    else:
        naxis = int(hdr["NAXIS"])
        hdr.insert(hdr.index(f"NAXIS{naxis}" if naxis else "NAXIS") + 1, Card("EXTEND", True))


def write_bytes(f, hdus) -> None:
    """Write HDUs to an open binary file (headers as they stand, data big-endian, padding);
    a primary HDU followed by extensions gets EXTEND = T (:func:`update_extend`)."""
    update_extend(hdus)
    for hdu in hdus:
        f.write(hdu.header.tostring().encode("ascii"))
        nbytes = 0
        for part in _data_bytes(hdu):
            f.write(part)
            nbytes += part.nbytes
        if nbytes % BLOCK:
            f.write(b"\0" * (-nbytes % BLOCK))


def write(hdus, path, *, overwrite: bool = False) -> Path:
    """Write HDUs to `path` under a temporary name in the same directory, renamed into place."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists")
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with builtins.open(tmp, "wb") as f:
            write_bytes(f, hdus)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path
