"""Offline word lists for the RULER generator.

Scope: the words RULER draws from ``wonderwords`` (which is not installed here
and would need no download, but is one more dependency), replaced by:

* needle keys (``niah_*``): ``adjective-noun`` pairs, as RULER forms them, from
  the two small lists of common English words embedded below (200 x 200 =
  40,000 keys);
* common-words extraction (``cwe``): RULER samples up to ~10K distinct words at
  128K; the embedded lists are too short for that, so ``cwe`` draws from the
  vocabulary of the essay haystack file (:func:`essay_vocabulary`: every
  distinct lower-case alphabetic word of 4 to 12 letters) together with the
  embedded words, sorted, so the pool is a deterministic function of the file
  (12,975 + ~500 words for RULER's essays).
"""

from __future__ import annotations

import re
from functools import cache

ADJECTIVES: tuple[str, ...] = tuple(
    """
    able absent acid active afraid agile alert alive amber ample ancient angry
    anxious arctic ardent awake aware basic bitter blank bleak blind blond bold
    brave brief bright brisk broad broken bronze busy calm careful casual cheap
    cheerful chief chilly civil clean clear clever close cloudy clumsy coarse
    cold common cool cosmic crazy crisp cruel curious curly damp dark dear deep
    dense direct dirty distant dizzy dry dull dusty eager early easy elastic
    elegant empty equal even exact faint fair false famous fancy fast fatal
    fierce final fine firm flat fluffy fond formal fragile free fresh friendly
    frozen full funny gentle giant glad global golden good grand grateful great
    greedy green grim gross guilty handy happy hard harsh hasty healthy heavy
    hidden high hollow holy honest huge humble hungry icy idle ill immense inner
    jolly juicy keen kind large late lazy lean legal light little lively local
    lonely long loose loud lovely loyal lucky lunar magic major mellow mental
    mild minor misty modern modest moral muddy narrow native neat nervous noble
    noisy normal odd open orange outer pale plain pleasant polite poor
    proud pure purple quick quiet rapid rare raw ready real rich rigid ripe
    robust rough round royal rude rural rusty sacred sad safe salty sandy scarce
    secret serene shaggy sharp shiny short shy silent silky silly simple sleepy
    slim slow small smart smooth soft solar solid sour spare spicy stable steep
    sticky still stormy strange strict strong sturdy subtle sudden sunny super
    sweet swift tall tame tender thick thin tidy tiny tired tough tropical true
    """.split()
)

NOUNS: tuple[str, ...] = tuple(
    """
    acorn actor album anchor angle ankle apple apron arch arrow artist atlas
    attic badge bakery ball banana band banjo barn basket beach beard bell belt
    bench berry bicycle bird blanket blossom board boat bonnet book boot bottle
    bowl box bracelet branch bread brick bridge brook broom brush bubble bucket
    bugle button cabin cable cactus cake camel camera candle canoe canyon carpet
    carrot castle cave cellar chair chalk cheese cherry chimney circle clock
    cloud coat comet compass cookie copper corner cotton cradle crayon creek
    crown crystal cup curtain cushion daisy desert diamond dinner dolphin donkey
    door dragon drawer dream drum eagle easel engine falcon feather fence fern
    ferry fiddle field finger flag flame flute forest fountain fox garden garlic
    gate glove goat grape harbor harp hat hammer helmet hill honey horse island
    jacket jelly jewel kettle kitchen kite ladder lake lamp lantern lemon letter
    lily lion lizard locket magnet mango maple marble meadow melon mirror monkey
    moon mountain muffin napkin needle nest oasis ocean olive onion orchard otter
    owl paddle painter palace panda parrot peach pearl pebble pencil pepper piano
    pillow pine planet plum pocket pond potato puppy puzzle quilt rabbit radish
    railway raven ribbon river robin rocket saddle sail salmon sandal saucer
    scarf shell shovel silver sled spoon squirrel star statue stove
    stream sugar summit sweater table teapot temple thimble thunder tiger tomato
    tower tractor trumpet tulip tunnel turtle umbrella valley vase violin wagon
    walnut wardrobe whale wheel whistle willow window wolf zebra
    """.split()
)


def needle_keys() -> tuple[str, ...]:
    """All ``adjective-noun`` keys, sorted (RULER's key format, e.g. ``fierce-lantern``)."""
    return _needle_keys()


@cache
def _needle_keys() -> tuple[str, ...]:
    return tuple(sorted({f"{a}-{n}" for a in ADJECTIVES for n in NOUNS}))


_WORD = re.compile(r"(?<![A-Za-z'])[a-z]{4,12}(?![A-Za-z'])")


def essay_vocabulary(text: str) -> tuple[str, ...]:
    """Distinct lower-case alphabetic words of 4-12 letters in ``text``, sorted.

    Words glued to an apostrophe or a capital letter are left out, so
    contractions and fragments of proper names do not enter the pool.
    """
    return tuple(sorted(set(_WORD.findall(text))))
