"""Realistic Chinese personal and place names for the synthetic county.

Everything here is a Python constant plus vectorised numpy draws: a draw loops in Python only over
a handful of (sex, cohort) groups, never over rows, and the same :class:`numpy.random.Generator`
state always gives the same names.

Han names are a surname (:data:`SURNAMES`, weighted by its share of the population) followed by a
one- or two-character given name from a cohort-specific pool with a Zipf-like popularity, so that,
as in the field, many different children share one full name. Minority names
(:func:`draw_minority_full_names`) follow the conventions of the larger minority groups, with the
ethnic group named as in GB 3304 (:data:`ETHNICITY_CODES`).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Final

import numpy as np
import numpy.typing as npt

from childlink.errors import SynthError

# --------------------------------------------------------------------------------------------
# Surnames
# --------------------------------------------------------------------------------------------

#: The most common Han surnames and their approximate share of the population in per cent
#: (national household-registration statistics), most common first. Rare surnames typical of
#: some minority groups (冉, 岑, 粟 ...) and two-character surnames come last at low weight.
SURNAMES: Final[Mapping[str, float]] = {
    "王": 7.12, "李": 7.00, "张": 6.74, "刘": 5.10, "陈": 4.61, "杨": 3.22, "黄": 2.45,
    "赵": 2.29, "吴": 2.05, "周": 1.99, "徐": 1.60, "孙": 1.51, "马": 1.45, "朱": 1.38,
    "胡": 1.31, "郭": 1.25, "何": 1.20, "林": 1.18, "高": 1.10, "罗": 1.05, "郑": 0.99,
    "梁": 0.98, "谢": 0.83, "宋": 0.80, "唐": 0.79, "许": 0.72, "韩": 0.71, "冯": 0.70,
    "邓": 0.69, "曹": 0.68, "彭": 0.66, "曾": 0.65, "肖": 0.63, "田": 0.62, "董": 0.61,
    "袁": 0.59, "潘": 0.58, "于": 0.57, "蒋": 0.56, "蔡": 0.55, "余": 0.54, "杜": 0.53,
    "叶": 0.52, "程": 0.51, "苏": 0.50, "魏": 0.49, "吕": 0.48, "丁": 0.47, "任": 0.46,
    "沈": 0.45, "姚": 0.44, "卢": 0.43, "姜": 0.42, "崔": 0.41, "钟": 0.40, "谭": 0.39,
    "陆": 0.38, "汪": 0.37, "范": 0.36, "金": 0.35, "石": 0.34, "廖": 0.33, "贾": 0.32,
    "夏": 0.31, "韦": 0.30, "付": 0.29, "方": 0.28, "白": 0.27, "邹": 0.26, "孟": 0.25,
    "熊": 0.25, "秦": 0.24, "邱": 0.24, "江": 0.23, "尹": 0.23, "薛": 0.22, "闫": 0.22,
    "段": 0.21, "雷": 0.21, "侯": 0.20, "龙": 0.20, "史": 0.19, "陶": 0.19, "黎": 0.18,
    "贺": 0.18, "顾": 0.17, "毛": 0.17, "郝": 0.16, "龚": 0.16, "邵": 0.15, "万": 0.15,
    "钱": 0.15, "严": 0.14, "覃": 0.14, "武": 0.14, "戴": 0.13, "莫": 0.13, "孔": 0.13,
    "向": 0.12, "汤": 0.12, "常": 0.12, "温": 0.11, "康": 0.11, "施": 0.11, "文": 0.11,
    "牛": 0.10, "樊": 0.10, "葛": 0.10, "邢": 0.10, "安": 0.09, "齐": 0.09, "易": 0.09,
    "乔": 0.09, "伍": 0.09, "庞": 0.08, "颜": 0.08, "倪": 0.08, "庄": 0.08, "聂": 0.08,
    "章": 0.07, "鲁": 0.07, "岳": 0.07, "翟": 0.07, "殷": 0.07, "詹": 0.06, "申": 0.06,
    "欧": 0.06, "耿": 0.06, "关": 0.06, "兰": 0.06, "焦": 0.06, "俞": 0.06, "左": 0.05,
    "柳": 0.05, "甘": 0.05, "祝": 0.05, "包": 0.05, "宁": 0.05, "尚": 0.05, "符": 0.05,
    "舒": 0.05, "单": 0.04, "冉": 0.04, "解": 0.03, "岑": 0.03, "穆": 0.02, "麻": 0.01,
    "粟": 0.01, "班": 0.01, "哈": 0.005, "纳": 0.005, "欧阳": 0.02, "司马": 0.005,
    "上官": 0.004, "诸葛": 0.004, "司徒": 0.003, "东方": 0.003, "皇甫": 0.002, "慕容": 0.001,
    "令狐": 0.001, "夏侯": 0.001,
}  # fmt: skip

#: Surnames whose reading differs from the everyday reading of the character.
SURNAME_PINYIN: Final[Mapping[str, str]] = {
    "单": "shan", "曾": "zeng", "解": "xie", "仇": "qiu", "朴": "piao", "区": "ou",
    "查": "zha", "盖": "ge", "覃": "qin", "乐": "yue", "缪": "miao", "翟": "zhai",
    "尉迟": "yuchi", "万俟": "moqi", "长孙": "zhangsun", "单于": "chanyu",
}  # fmt: skip

_SURNAME_ARRAY: Final = np.array(list(SURNAMES), dtype=object)
_SURNAME_P: Final = np.array(list(SURNAMES.values()), dtype=np.float64) / sum(SURNAMES.values())
_LONGEST_SURNAME: Final = max(len(s) for s in SURNAMES)
_MIDDLE_DOT: Final = "·"


def draw_surnames(rng: np.random.Generator, n: int) -> npt.NDArray[np.object_]:
    """``n`` Han surnames drawn with their population frequencies."""
    result: npt.NDArray[np.object_] = rng.choice(_SURNAME_ARRAY, size=n, p=_SURNAME_P)
    return result


def split_name(full_name: str) -> tuple[str, str]:
    """Split a full name into ``(surname, given name)``.

    The surname is the longest prefix found in :data:`SURNAMES` that leaves a non-empty given
    name. A name with a middle dot (``艾力·吐尔逊``) has no surname: the given name is the part
    before the first dot. A name with no known surname comes back as ``("", full_name)``.
    """
    if _MIDDLE_DOT in full_name:
        return "", full_name.split(_MIDDLE_DOT, 1)[0]
    for length in range(min(_LONGEST_SURNAME, len(full_name) - 1), 0, -1):
        if full_name[:length] in SURNAMES:
            return full_name[:length], full_name[length:]
    return "", full_name


# --------------------------------------------------------------------------------------------
# Given names
# --------------------------------------------------------------------------------------------

#: First birth year of each naming cohort; the last cohort is open-ended.
COHORT_START_YEARS: Final[tuple[int, ...]] = (0, 1970, 1985, 2000, 2012)
#: Share of one-character given names in each cohort.
SINGLE_CHARACTER_SHARE: Final[tuple[float, ...]] = (0.25, 0.25, 0.22, 0.20, 0.18)
#: How far (standard deviation in years) a family's naming taste wanders from its birth year,
#: which blends neighbouring cohorts' pools near the cohort boundaries.
_COHORT_BLUR_YEARS: Final = 3.0
#: Exponent of the Zipf-like popularity of the names in a pool (rank r has weight r**-s).
ZIPF_EXPONENT: Final = 0.8
#: Share of two-character given names that are fashionable names from the cohort's pool; the
#: others combine a first and a second character used in the pool's names (沐 + 航 = 沐航),
#: which gives the long tail of rarer names.
POPULAR_TWO_CHARACTER_SHARE: Final = 0.6


def _pool(text: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(text.split()))


# Pools, most popular first, per cohort: (boys two-char, boys one-char, girls two-char, girls
# one-char).
_GIVEN_NAME_POOLS: Final[tuple[tuple[tuple[str, ...], ...], ...]] = (
    (  # born before 1970
        _pool(
            "建国 国庆 建华 国华 建军 卫国 志强 志明 德明 红军 建平 国强 国平 振华 卫东 红兵"
            " 跃进 解放 胜利 援朝 保国 永福 金山 德福 长生 春生 有才 福生 建设 向东 学军"
            " 志刚 玉林 树林 宝山 文革"
        ),
        _pool("军 华 明 平 强 林 刚 勇 斌 生 福 海 山 文 忠 国 德 成"),
        _pool(
            "秀英 桂英 秀兰 玉兰 桂兰 秀珍 凤英 玉梅 淑珍 桂芳 秀云 玉珍 玉英 桂珍 秀芳"
            " 淑英 凤兰 桂香 秀梅 淑兰 玉华 素珍 凤珍 金凤 月英 翠兰 冬梅 红梅 丽华 素英"
        ),
        _pool("英 兰 珍 芳 华 秀 梅 琴 凤 霞 红 云 玲 萍"),
    ),
    (  # 1970-1984
        _pool(
            "建华 建国 建军 志强 志明 海涛 晓东 文斌 卫东 卫国 红兵 志刚 国平 建平 建伟"
            " 立新 国华 永刚 春生 小平 晓军 红军 永强 军辉 振华 建新 国强 海军 小兵 晓明"
            " 金龙 海波 德华 东升 伟华 文军 志勇 永生"
        ),
        _pool("伟 勇 军 强 斌 磊 刚 涛 明 杰 辉 平 华 峰 林 波 东 亮 超 俊"),
        _pool(
            "丽娟 丽华 晓燕 海燕 秀梅 春梅 红梅 雪梅 晓红 艳红 丽萍 秀英 桂英 玉兰 秀兰"
            " 丽红 红霞 春燕 晓梅 美玲 金凤 秀芳 小红 小燕 丽丽 桂芳 秀云 玉梅 玉珍 红艳"
            " 雪莲 海英 素芬 淑华 彩霞"
        ),
        _pool("芳 静 丽 敏 艳 娟 霞 燕 红 英 萍 玲 华 梅 琴 慧 莉 丹 洁 颖"),
    ),
    (  # 1985-1999
        _pool(
            "晓东 晓峰 海涛 俊杰 志强 建华 小龙 建伟 文杰 志伟 家乐 浩然 鹏飞 晓明 海洋"
            " 子豪 俊峰 明亮 志刚 春雷 小军 文涛 立伟 振华 宏伟 宇航 天宇 建军 海波 晓龙"
            " 国强 永强 俊伟 伟伟 佳伟 文博 金鑫 志鹏"
        ),
        _pool("伟 磊 涛 超 鹏 杰 斌 浩 勇 强 鑫 帅 亮 波 辉 刚 健 龙 飞 宇"),
        _pool(
            "婷婷 丽娟 晓燕 海燕 丽丽 莹莹 晶晶 佳佳 欢欢 丹丹 静静 晓丽 晓静 雪梅 春燕"
            " 小红 秀梅 文静 思思 媛媛 雅婷 晓雪 晓琳 亚楠 梦婷 美玲 玉洁 丽萍 晓敏 婉婷"
            " 倩倩 佳慧 慧敏 雪莲 艳红"
        ),
        _pool("丽 静 敏 燕 艳 娟 霞 婷 雪 芳 倩 琳 丹 颖 洁 慧 莉 萍 玲 红"),
    ),
    (  # 2000-2011
        _pool(
            "浩然 浩宇 子豪 宇航 俊杰 家豪 志豪 宇轩 浩轩 子轩 梓轩 博文 文博 天宇 子健"
            " 家乐 明轩 宇豪 俊豪 嘉豪 晨阳 一鸣 浩天 子涵 鑫磊 佳豪 浩楠 振宇 天乐 思远"
            " 俊宇 皓轩 家俊 雨泽 宇杰 子恒 俊熙 铭轩 文轩 博宇 明杰 浩杰 宇晨 泽宇 子瑞"
            " 志远 子文 浩洋 天翔"
        ),
        _pool("浩 宇 杰 鑫 磊 帅 鹏 博 晨 阳 豪 航 涛 旭 凯 轩 睿 昊 哲 强 伟"),
        _pool(
            "欣怡 梓涵 诗涵 雨欣 佳怡 子涵 雨涵 梦瑶 思雨 婷婷 雨婷 紫涵 诗琪 欣妍 可欣"
            " 佳琪 梦琪 雨桐 思琪 欣悦 佳欣 晓雯 静怡 心怡 美琪 雪莹 佳慧 雅婷 梦洁 思涵"
            " 嘉欣 文静 子怡 雨萱 悦悦 嘉怡 诗雨 欣然 舒涵 梓萱 怡然 佳雯 晨曦 倩倩 佳乐"
            " 蕊蕊 思彤 可馨 雨晴 涵涵"
        ),
        _pool("婷 雪 倩 琳 悦 欣 怡 雯 蕾 佳 洁 妍 瑶 颖 静 茜 萌 璐 琪 丹 芳"),
    ),
    (  # 2012 and later
        _pool(
            "梓轩 浩宇 奕辰 宇轩 亦辰 宇辰 子墨 宇航 浩然 梓豪 亦凡 沐宸 沐辰 茗泽 宇泽"
            " 奕泽 沐阳 一鸣 子轩 皓轩 俊熙 梓睿 子睿 睿泽 铭泽 锦程 博文 思远 天佑 嘉懿"
            " 煜城 懿轩 烨磊 晟睿 天翊 瑾瑜 鹏煊 弘文 昊然 明轩 修杰 黎昕 远航 旭尧 鸿涛"
            " 伟祺 荣轩 越泽 浩轩 子骞 梓晨 俊宇 一诺 子涵 晨阳 宇豪 文轩 承泽 嘉豪 逸凡"
        ),
        _pool("轩 睿 铭 诺 昊 宸 浩 宇 泽 辰 煜 瑞 哲 皓 毅 杰 博 恒 嘉 鑫 晨 阳 航 凯 然"),
        _pool(
            "一诺 欣怡 梓涵 依诺 语桐 欣妍 可欣 语汐 雨桐 梦瑶 梓萱 沐瑶 诗涵 若汐 子涵"
            " 芷若 思涵 雨涵 可馨 梓琪 紫涵 悦彤 佳怡 子萱 艺涵 语嫣 若曦 诗琪 梓妍 雨欣"
            " 梓晴 昕怡 芷晴 欣然 思琪 诗雨 奕涵 筱雨 佳琪 心怡 一涵 书瑶 安琪 梦琪 静怡"
            " 欣悦 语彤 婉清 清妍 雅琪 晓彤 沐汐 梓琳 可儿 诺一 梓彤 子墨"
        ),
        _pool("萱 涵 琪 妍 悦 彤 瑶 桐 怡 欣 诺 可 汐 馨 琳 雯 婷 玥 菲 蕊 璐 晴 灵 珂 瑾"),
    ),
)

#: Common name characters outside the pools that a typist's pinyin input method offers for the
#: same syllable (伟 → 玮 炜 薇, 静 → 婧 晶); they widen the set of homophones.
EXTRA_NAME_CHARACTERS: Final = (
    "玮炜薇威维巍婧晶菁靖敬璟竞婕捷莹盈滢英樱露路鹭霖麟凌羚铃翎宜仪艺忆依伊逸奕亦益"
    "暄宣瑄寒晗函菡瀚翰汉雨语羽玉钰昱毓裕灏颢锐芮择喆娜琛臣晟庭霆廷紫姿心新昕信芯研"
    "岩嫣言彦雁琦淇祺骐麒奇楠南思斯诗施遥尧谣珂科嘉家伽锋枫丰风敏民旻朋芃铭鸣茗名"
    "俊骏峻浚君钧军涛韬桃鹏蓬晓筱潇萧小雯文闻娴贤弦妍岚澜兰蓝斌彬滨冰彤桐童瞳曈"
    "瑜愉榆宇禹予馨欣鑫炘佳珈怡贻宸辰尘晨磊蕾垒睿瑞蕊锐轩萱璇"
)


def _cohort_weights(
    pool: Sequence[str], exponent: float = ZIPF_EXPONENT
) -> npt.NDArray[np.float64]:
    weights = np.arange(1, len(pool) + 1, dtype=np.float64) ** -exponent
    result: npt.NDArray[np.float64] = weights / weights.sum()
    return result


def _positional_chars(pool: tuple[str, ...], position: int) -> npt.NDArray[np.object_]:
    return np.array(list(dict.fromkeys(name[position] for name in pool)), dtype=object)


class _SexPools:
    """Draws for one cohort and sex: one-character, popular and composed two-character names."""

    def __init__(self, two: tuple[str, ...], one: tuple[str, ...]) -> None:
        self.two = np.array(two, dtype=object)
        self.two_p = _cohort_weights(two)
        self.one = np.array(one, dtype=object)
        self.one_p = _cohort_weights(one)
        self.firsts = _positional_chars(two, 0)
        self.firsts_p = _cohort_weights(self.firsts.tolist(), 0.5)
        self.seconds = _positional_chars(two, 1)
        self.seconds_p = _cohort_weights(self.seconds.tolist(), 0.5)
        self.doubled_ok = any(name[0] == name[1] for name in two)

    def draw(
        self, rng: np.random.Generator, single: npt.NDArray[np.bool_]
    ) -> npt.NDArray[np.object_]:
        n = single.size
        out = np.empty(n, dtype=object)
        popular = rng.random(n) < POPULAR_TWO_CHARACTER_SHARE
        rows = np.flatnonzero(single)
        out[rows] = rng.choice(self.one, size=rows.size, p=self.one_p)
        rows = np.flatnonzero(~single & popular)
        out[rows] = rng.choice(self.two, size=rows.size, p=self.two_p)
        rows = np.flatnonzero(~single & ~popular)
        first = rng.choice(self.firsts.size, size=rows.size, p=self.firsts_p)
        second = rng.choice(self.seconds.size, size=rows.size, p=self.seconds_p)
        if not self.doubled_ok:
            # No doubled character (建建) unless the pool itself has such names (婷婷).
            doubled = self.firsts[first] == self.seconds[second]
            second[doubled] = (second[doubled] + 1) % self.seconds.size
        composed = np.char.add(self.firsts[first].astype(str), self.seconds[second].astype(str))
        out[rows] = composed.astype(object)
        return out


@functools.cache
def _sex_pools(cohort: int, male: bool) -> _SexPools:
    pools = _GIVEN_NAME_POOLS[cohort]
    return _SexPools(pools[0], pools[1]) if male else _SexPools(pools[2], pools[3])


def given_name_pool(cohort: int, *, male: bool, single: bool) -> tuple[str, ...]:
    """The given names of one cohort (index into :data:`COHORT_START_YEARS`), most popular first."""
    return _GIVEN_NAME_POOLS[cohort][(0 if male else 2) + (1 if single else 0)]


def draw_given_names(
    rng: np.random.Generator,
    is_male: npt.NDArray[np.bool_],
    birth_years: npt.NDArray[np.integer] | Sequence[int],
) -> npt.NDArray[np.object_]:
    """One- or two-character given names fitting each person's sex and birth year.

    Each person's naming cohort is their birth year blurred by a few years (so pools blend near
    cohort boundaries). Within a cohort about a fifth of the names have one character; the
    fashionable names follow a Zipf-like popularity, so many people share a given name, and the
    rest combine characters of the fashionable names into a long tail of rarer ones.
    """
    is_male = np.asarray(is_male, dtype=bool)
    years = np.asarray(birth_years, dtype=np.float64)
    if is_male.shape != years.shape or is_male.ndim != 1:
        raise SynthError("is_male and birth_years must be one-dimensional and of equal length")
    n = is_male.size
    blurred = years + rng.normal(0.0, _COHORT_BLUR_YEARS, n)
    cohort = np.searchsorted(np.array(COHORT_START_YEARS[1:]), blurred, side="right")
    single = rng.random(n) < np.array(SINGLE_CHARACTER_SHARE)[cohort]
    result = np.empty(n, dtype=object)
    for c in range(len(COHORT_START_YEARS)):
        for male in (True, False):
            rows = np.flatnonzero((cohort == c) & (is_male == male))
            if rows.size:
                result[rows] = _sex_pools(c, male).draw(rng, single[rows])
    return result


def name_characters() -> tuple[str, ...]:
    """Every character of the given-name pools and :data:`EXTRA_NAME_CHARACTERS`, in order."""
    chars: dict[str, None] = {}
    for cohort in _GIVEN_NAME_POOLS:
        for pool in cohort:
            for name in pool:
                chars.update(dict.fromkeys(name))
    chars.update(dict.fromkeys(EXTRA_NAME_CHARACTERS))
    return tuple(chars)


# --------------------------------------------------------------------------------------------
# Homophones
# --------------------------------------------------------------------------------------------

HOMOPHONES: dict[str, tuple[str, ...]]
"""For each name character, the other name characters with the same toneless pinyin.

Computed on first access from :func:`name_characters` with :func:`pypinyin.lazy_pinyin`
(see :func:`homophones`); only characters that have at least one homophone are keys.
"""


@functools.cache
def homophones() -> dict[str, tuple[str, ...]]:
    """The :data:`HOMOPHONES` table, computed once."""
    from pypinyin import lazy_pinyin

    chars = name_characters()
    by_sound: dict[str, list[str]] = {}
    for char in chars:
        by_sound.setdefault(lazy_pinyin(char)[0], []).append(char)
    table: dict[str, tuple[str, ...]] = {}
    for group in by_sound.values():
        if len(group) > 1:
            for char in group:
                table[char] = tuple(other for other in group if other != char)
    return table


def __getattr__(name: str) -> object:
    if name == "HOMOPHONES":
        return homophones()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# --------------------------------------------------------------------------------------------
# Minority names
# --------------------------------------------------------------------------------------------

#: GB 3304 codes of the ethnic groups (the first 20 by population, plus the ones used here).
ETHNICITY_CODES: Final[Mapping[str, str]] = {
    "汉族": "01", "蒙古族": "02", "回族": "03", "藏族": "04", "维吾尔族": "05", "苗族": "06",
    "彝族": "07", "壮族": "08", "布依族": "09", "朝鲜族": "10", "满族": "11", "侗族": "12",
    "瑶族": "13", "白族": "14", "土家族": "15", "哈尼族": "16", "哈萨克族": "17", "傣族": "18",
    "黎族": "19", "傈僳族": "20", "水族": "25",
}  # fmt: skip

#: Default mix of minority groups for :func:`draw_minority_full_names` (a south-western county
#: with some migrant families from the north-west and the plateau).
DEFAULT_MINORITY_MIX: Final[Mapping[str, float]] = {
    "苗族": 0.30, "侗族": 0.18, "布依族": 0.10, "彝族": 0.12, "维吾尔族": 0.12, "藏族": 0.08,
    "土家族": 0.05, "回族": 0.05,
}  # fmt: skip

_UYGHUR_MALE: Final = _pool(
    "艾力 买买提 阿不都 艾合买提 吐尔逊 阿卜杜拉 努尔买买提 热合曼 伊力哈木 艾克拜尔 麦麦提敏"
    " 阿迪力 库尔班 肉孜 依明 托合提 亚森 吾斯曼 阿里木 帕尔哈提 艾尔肯 迪力夏提 伊斯拉木"
    " 阿布来提 玉素甫 买合木提"
)
_UYGHUR_FEMALE: Final = _pool(
    "阿依古丽 古丽娜尔 热依拉 迪丽热巴 古丽米热 帕提古丽 阿依努尔 米热古丽 努尔古丽 再努尔"
    " 阿孜古丽 祖丽菲娅 海日古丽 麦尔哈巴 布阿依谢姆 热孜万古丽 阿米娜 佐日古丽 古再丽努尔"
    " 阿娜尔古丽 排孜拉"
)
_YI_CLANS: Final = _pool(
    "吉克 阿苏 沙马 阿约 马海 曲比 吉伍 阿的 勒格 海来 俄木 日火 木乃 吉尔 瓦扎 阿西 加拉"
    " 阿克 比曲 苏呷"
)
_YI_MALE: Final = _pool("伍各 拉且 木呷 尔古 石哈 伍沙 日洛 阿木 曲者 子日 约布 拉哈 尔布 木机")
_YI_FEMALE: Final = _pool("阿依 阿呷 么作 日作 阿支 伍呷 木果 阿芝 莫色 尔呷 石莫 阿果 有格")
_TIBETAN_FIRST: Final = _pool(
    "扎西 次仁 格桑 索朗 达瓦 尼玛 白玛 德吉 洛桑 益西 边巴 普布 巴桑 丹增 才让 强巴 平措"
)
_TIBETAN_MALE: Final = _pool("多吉 次仁 旺堆 平措 顿珠 扎西 罗布 加措 坚参 朗杰 尼玛 贡布")
_TIBETAN_FEMALE: Final = _pool("卓玛 拉姆 央金 曲珍 措姆 德吉 玉珍 卓嘎 央宗 旺姆 次珍 白珍")
#: Surname mixes of the groups that mostly use Han-style names.
_HAN_STYLE_SURNAMES: Final[Mapping[str, Mapping[str, float]]] = {
    "苗族": {"杨": 20, "吴": 15, "龙": 12, "石": 10, "王": 8, "张": 6, "麻": 5, "潘": 5, "李": 5,
             "罗": 4, "熊": 4, "陶": 3, "侯": 3},
    "侗族": {"杨": 22, "吴": 18, "石": 10, "龙": 8, "粟": 6, "欧": 5, "潘": 5, "姚": 4, "陆": 4,
             "罗": 4, "张": 4},
    "布依族": {"王": 15, "罗": 12, "韦": 12, "黄": 10, "陆": 8, "岑": 6, "杨": 6, "吴": 5,
               "陈": 5, "班": 4, "莫": 4},
    "土家族": {"田": 15, "向": 12, "彭": 10, "覃": 8, "冉": 8, "杨": 8, "张": 6, "李": 6,
               "王": 5, "黄": 5},
    "回族": {"马": 40, "杨": 8, "李": 8, "王": 8, "丁": 6, "白": 5, "张": 5, "哈": 4, "穆": 3,
             "纳": 3},
}  # fmt: skip


#: Roles of the members of a household for :func:`draw_minority_household_names`.
HOUSEHOLD_ROLES: Final[tuple[str, ...]] = (
    "father",
    "mother",
    "grandfather",
    "grandmother",
    "child",
)
#: Roles that belong to the father's line and so carry the household's surname or clan name.
_LINEAGE_ROLES: Final[tuple[str, ...]] = ("father", "grandfather", "child")
#: Every group with naming rules, in the fixed order in which their names are drawn.
_NAMED_GROUPS: Final[tuple[str, ...]] = (*_HAN_STYLE_SURNAMES, "维吾尔族", "彝族", "藏族")


def _pick_index(rng: np.random.Generator, size: int, n: int) -> npt.NDArray[np.int64]:
    """Indices into a pool of ``size`` names with a mild preference for its first entries."""
    weights = np.arange(1, size + 1, dtype=np.float64) ** -0.5
    result: npt.NDArray[np.int64] = rng.choice(size, size=n, p=weights / weights.sum())
    return result


def _pick(rng: np.random.Generator, pool: tuple[str, ...], n: int) -> npt.NDArray[np.object_]:
    """Draws from ``pool`` with a mild preference for its first entries."""
    result: npt.NDArray[np.object_] = np.array(pool, dtype=object)[_pick_index(rng, len(pool), n)]
    return result


def _distinct_within(
    household: npt.NDArray[np.int64], index: npt.NDArray[np.int64], pool_size: int
) -> npt.NDArray[np.int64]:
    """``index`` with repeats inside a household moved on to the next free entry of the pool.

    The first person of a household keeps their entry; a household needs at most ``pool_size``
    people for all of them to get distinct entries.
    """
    index = index.copy()
    for _ in range(pool_size):
        _, first = np.unique(household * pool_size + index, return_index=True)
        repeat = np.ones(index.size, dtype=bool)
        repeat[first] = False
        if not repeat.any():
            break
        index[repeat] = (index[repeat] + 1) % pool_size
    return index


def _pick_by_sex(
    rng: np.random.Generator,
    is_male: npt.NDArray[np.bool_],
    male_pool: tuple[str, ...],
    female_pool: tuple[str, ...],
    *,
    household: npt.NDArray[np.int64] | None = None,
) -> npt.NDArray[np.object_]:
    """Names from the pool of each person's sex.

    With ``household``, the people of one household and sex get distinct names (no father and
    son, nor two sisters, of one name).
    """
    out = np.empty(is_male.size, dtype=object)
    for male, pool in ((True, male_pool), (False, female_pool)):
        rows = np.flatnonzero(is_male == male)
        index = _pick_index(rng, len(pool), rows.size)
        if household is not None:
            index = _distinct_within(household[rows], index, len(pool))
        out[rows] = np.array(pool, dtype=object)[index]
    return out


def _join(*parts: npt.NDArray[np.object_]) -> npt.NDArray[np.object_]:
    joined = parts[0].astype(str)
    for part in parts[1:]:
        joined = np.char.add(joined, part.astype(str))
    result: npt.NDArray[np.object_] = joined.astype(object)
    return result


def draw_minority_groups(
    rng: np.random.Generator, n: int, *, mix: Mapping[str, float] | None = None
) -> npt.NDArray[np.object_]:
    """``n`` ethnic groups (GB 3304 names) drawn with the weights of ``mix``.

    The default mix is :data:`DEFAULT_MINORITY_MIX`.

    Raises:
        SynthError: a group without naming rules, or weights that are negative or sum to zero.
    """
    weights = dict(DEFAULT_MINORITY_MIX if mix is None else mix)
    unknown = set(weights) - set(_NAMED_GROUPS)
    if unknown:
        raise SynthError(f"no naming rules for ethnic group(s): {sorted(unknown)}")
    total = sum(weights.values())
    if total <= 0 or any(w < 0 for w in weights.values()):
        raise SynthError("minority mix weights must be non-negative with a positive sum")
    groups = np.array(list(weights), dtype=object)
    result: npt.NDArray[np.object_] = rng.choice(
        groups, size=n, p=np.array(list(weights.values()), dtype=np.float64) / total
    )
    return result


def _han_style_names(
    rng: np.random.Generator,
    group: str,
    n_households: int,
    household: npt.NDArray[np.int64],
    lineage: npt.NDArray[np.bool_],
    is_male: npt.NDArray[np.bool_],
    years: npt.NDArray[np.int64],
) -> npt.NDArray[np.object_]:
    """The father's line shares the household surname; wives keep their own surname."""
    mix = _HAN_STYLE_SURNAMES[group]
    pool = np.array(list(mix), dtype=object)
    p = np.array(list(mix.values()), dtype=np.float64)
    p /= p.sum()
    household_surname = rng.choice(pool, size=n_households, p=p)
    own_surname = rng.choice(pool, size=household.size, p=p)
    surname = np.where(lineage, household_surname[household], own_surname)
    return _join(surname, draw_given_names(rng, is_male, years))


def _uyghur_names(
    rng: np.random.Generator,
    n_households: int,
    household: npt.NDArray[np.int64],
    role: npt.NDArray[np.object_],
    is_male: npt.NDArray[np.bool_],
) -> npt.NDArray[np.object_]:
    """Own name · father's own name; the father's is the household father's (or grandfather's)."""
    own = _pick_by_sex(rng, is_male, _UYGHUR_MALE, _UYGHUR_FEMALE, household=household)
    # The fathers' names of whoever has no father in the household are drawn.
    fathers_father = _pick(rng, _UYGHUR_MALE, n_households)
    grandfathers_father = _pick(rng, _UYGHUR_MALE, n_households)
    outsiders_father = _pick(rng, _UYGHUR_MALE, household.size)
    father = role == "father"
    grandfather = role == "grandfather"
    fathers_father[household[father]] = own[father]
    grandfathers_father[household[grandfather]] = own[grandfather]
    second = np.where(
        role == "child",
        fathers_father[household],
        np.where(father, grandfathers_father[household], outsiders_father),
    )
    return _join(own, np.full(household.size, _MIDDLE_DOT, dtype=object), second)


def _yi_names(
    rng: np.random.Generator,
    n_households: int,
    household: npt.NDArray[np.int64],
    lineage: npt.NDArray[np.bool_],
    is_male: npt.NDArray[np.bool_],
) -> npt.NDArray[np.object_]:
    """Clan name + own name; the father's line shares a clan, wives keep another one."""
    n_clans = len(_YI_CLANS)
    household_clan = _pick_index(rng, n_clans, n_households)[household]
    own_clan = _pick_index(rng, n_clans, household.size)
    # Yi clans are exogamous: a wife's clan is never her husband's.
    own_clan = np.where(own_clan == household_clan, (own_clan + 1) % n_clans, own_clan)
    clan = np.array(_YI_CLANS, dtype=object)[np.where(lineage, household_clan, own_clan)]
    own = _pick_by_sex(rng, is_male, _YI_MALE, _YI_FEMALE, household=household)
    return _join(clan, own)


def _tibetan_names(
    rng: np.random.Generator, household: npt.NDArray[np.int64], is_male: npt.NDArray[np.bool_]
) -> npt.NDArray[np.object_]:
    """No family name: one or (mostly) two two-character parts.

    The last part differs between the people of one household and sex.
    """
    second = _pick_by_sex(rng, is_male, _TIBETAN_MALE, _TIBETAN_FEMALE, household=household)
    first = _pick(rng, _TIBETAN_FIRST, is_male.size)
    two_part = (rng.random(is_male.size) < 0.7) & (first != second)
    result: npt.NDArray[np.object_] = np.where(two_part, _join(first, second), second)
    return result


def draw_minority_household_names(
    rng: np.random.Generator,
    groups: npt.NDArray[np.object_] | Sequence[str],
    household: npt.NDArray[np.integer] | Sequence[int],
    role: npt.NDArray[np.object_] | Sequence[str],
    is_male: npt.NDArray[np.bool_] | Sequence[bool],
    birth_years: npt.NDArray[np.integer] | Sequence[int],
) -> npt.NDArray[np.object_]:
    """Full names of the members of minority households, every household of one ethnic group.

    Args:
        groups: the ethnic group of each household (see :func:`draw_minority_groups`).
        household: for each person, the index of their household in ``groups``.
        role: for each person, one of :data:`HOUSEHOLD_ROLES`; a household has at most one
            father and one grandfather (the father's father).
        is_male: sex of each person.
        birth_years: birth year of each person (for the given names of Han-style names).

    The names follow each group's conventions, as in :func:`draw_minority_full_names`, and the
    family ties between them:

    - Han-style groups (苗族, 侗族, 布依族, 土家族, 回族): father, grandfather and children carry
      the household's surname, mother and grandmother their own; given names fit each person's
      sex and birth cohort;
    - 维吾尔族: own name · father's own name, so a child's second part is the household father's
      first part and the father's is the grandfather's (drawn when he is not in the household);
    - 彝族: the father's line shares a clan name, mother and grandmother keep another clan;
    - 藏族: no family name, each person's name is drawn on its own.

    Within a Uyghur, Yi or Tibetan household no two people of one sex share their own name.

    Returns:
        An object array of ``str``, one full name per person.
    """
    groups = np.asarray(groups, dtype=object)
    household = np.asarray(household, dtype=np.int64)
    role = np.asarray(role, dtype=object)
    is_male = np.asarray(is_male, dtype=bool)
    years = np.asarray(birth_years, dtype=np.int64)
    n = household.size
    if groups.ndim != 1 or any(a.shape != (n,) for a in (household, role, is_male, years)):
        raise SynthError(
            "groups must be one-dimensional; household, role, is_male and birth_years "
            "one-dimensional and of equal length"
        )
    unknown = set(groups.tolist()) - set(_NAMED_GROUPS)
    if unknown:
        raise SynthError(f"no naming rules for ethnic group(s): {sorted(unknown)}")
    if n and (household.min() < 0 or household.max() >= groups.size):
        raise SynthError("household indices must point into groups")
    bad_roles = set(role.tolist()) - set(HOUSEHOLD_ROLES)
    if bad_roles:
        raise SynthError(f"unknown household role(s): {sorted(bad_roles)}")
    for single in ("father", "grandfather"):
        if np.bincount(household[role == single], minlength=1).max() > 1:
            raise SynthError(f"a household has more than one {single}")
    lineage = np.isin(role, _LINEAGE_ROLES)
    person_group = groups[household] if n else np.empty(0, dtype=object)
    names = np.empty(n, dtype=object)
    for group in _NAMED_GROUPS:
        rows = np.flatnonzero(person_group == group)
        if not rows.size:
            continue
        # Renumber the group's households 0..k-1 so per-household draws have k entries.
        present, local = np.unique(household[rows], return_inverse=True)
        k = present.size
        if group == "维吾尔族":
            names[rows] = _uyghur_names(rng, k, local, role[rows], is_male[rows])
        elif group == "彝族":
            names[rows] = _yi_names(rng, k, local, lineage[rows], is_male[rows])
        elif group == "藏族":
            names[rows] = _tibetan_names(rng, local, is_male[rows])
        else:
            names[rows] = _han_style_names(
                rng, group, k, local, lineage[rows], is_male[rows], years[rows]
            )
    return names


def draw_minority_full_names(
    rng: np.random.Generator,
    is_male: npt.NDArray[np.bool_],
    *,
    birth_years: npt.NDArray[np.integer] | None = None,
    mix: Mapping[str, float] | None = None,
) -> tuple[npt.NDArray[np.object_], npt.NDArray[np.object_]]:
    """Full names and GB 3304 ethnic groups for unrelated members of minority groups.

    Each person is drawn on their own, as a child of a household of their own (for the members
    of one household use :func:`draw_minority_household_names`):

    - 维吾尔族: own name, middle dot, father's name (``阿依古丽·买买提``, ``艾力·吐尔逊``);
    - 彝族: clan name followed by a given name (``阿苏伍各``, ``吉克阿依``);
    - 藏族: no surname, one or two two-character parts (``卓玛``, ``扎西次仁``);
    - 苗族, 侗族, 布依族, 土家族, 回族: Han-style names with the group's typical surnames.

    Args:
        is_male: sex of each person.
        birth_years: used for the given names of Han-style names (default: children born 2016).
        mix: relative weight of each group (default :data:`DEFAULT_MINORITY_MIX`).

    Returns:
        ``(full_names, ethnicities)``, both object arrays of ``str``.
    """
    is_male = np.asarray(is_male, dtype=bool)
    n = is_male.size
    group = draw_minority_groups(rng, n, mix=mix)
    years = (
        np.full(n, 2016, dtype=np.int64)
        if birth_years is None
        else np.asarray(birth_years, dtype=np.int64)
    )
    names = draw_minority_household_names(
        rng, group, np.arange(n), np.full(n, "child", dtype=object), is_male, years
    )
    return names, group.astype(object)


def placeholder_newborn_name(mother_full_name: str, is_male: bool) -> str:
    """The placeholder under which an unnamed newborn is registered: ``李颖之子`` / ``李颖之女``."""
    return f"{mother_full_name.strip()}之{'子' if is_male else '女'}"


# --------------------------------------------------------------------------------------------
# Place names
# --------------------------------------------------------------------------------------------

#: First and second characters of township and village names (青山, 石门, 柳树 ...).
TOWNSHIP_NAME_CHARS: Final[tuple[str, str]] = (
    "青石柳白黄红金新大小东西南北高龙凤马杨李桃梅松竹长平安和兴太永福华三双清云沙水",
    "山门树河桥坪溪沟湾岭坝塘林田庄寨口岗堡关江坡冲场洞岩台垭寺湖营井滩",
)
#: Prefixes that make further distinct names when the two-character ones run out.
_PLACE_PREFIXES: Final = "上下前后中老"


@functools.cache
def _place_name_bases() -> tuple[str, ...]:
    firsts, seconds = TOWNSHIP_NAME_CHARS
    two = [a + b for a in firsts for b in seconds if a != b]
    three = [p + base for p in _PLACE_PREFIXES for base in two if p not in base]
    return (*two, *three)


def draw_place_names(rng: np.random.Generator, n: int, suffix: str) -> npt.NDArray[np.object_]:
    """``n`` distinct place names ending in ``suffix`` (``青山镇``, ``石门乡``, ``柳树村``).

    Two-character bases come first; three-character ones (``上石门``) only once those run out.
    """
    bases = _place_name_bases()
    n_two = sum(1 for b in bases if len(b) == 2)
    if n > len(bases):
        raise SynthError(f"cannot draw {n} distinct place names (at most {len(bases)})")
    if n <= n_two:
        index = rng.choice(n_two, size=n, replace=False)
    else:
        extra = rng.choice(len(bases) - n_two, size=n - n_two, replace=False) + n_two
        index = np.concatenate([rng.permutation(n_two), extra])
    return np.array([bases[i] + suffix for i in index], dtype=object)
