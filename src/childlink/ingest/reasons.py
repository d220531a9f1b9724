"""Why an ingested value was refused, and what was changed in it safely.

Both enums are :class:`~childlink.store.enums.LabelledStrEnum`: the value is what quarantine and
fix records store, ``label_zh``/``label_en`` are what people read in reports. Values are
append-only: add members, never rename one that may already be stored.
"""

from __future__ import annotations

from childlink.store.enums import LabelledStrEnum


class QuarantineReason(LabelledStrEnum):
    """Why a value is invalid, or why a row cannot be accepted."""

    # Missing values
    REQUIRED_MISSING = "required_missing", "必填项缺失", "required value missing"
    # Resident ID numbers
    ID_INVALID_LENGTH = "id_invalid_length", "身份证号位数错误", "ID number has wrong length"
    ID_INVALID_CHARACTERS = (
        "id_invalid_characters",
        "身份证号含非法字符",
        "ID number has invalid characters",
    )
    ID_BAD_CHECK = "id_bad_check", "身份证号校验位错误", "ID number check character wrong"
    ID_IMPOSSIBLE_DATE = (
        "id_impossible_date",
        "身份证号出生日期不存在",
        "ID number has an impossible birth date",
    )
    # Names
    NAME_INVALID = "name_invalid", "姓名无效", "invalid name"
    # Dates
    DATE_UNPARSEABLE = "date_unparseable", "日期无法识别", "date cannot be read"
    DATE_IMPOSSIBLE = "date_impossible", "日期不存在", "date does not exist"
    DATE_OUT_OF_RANGE = "date_out_of_range", "日期超出允许范围", "date out of allowed range"
    # Coded values
    SEX_UNKNOWN = "sex_unknown", "性别代码无法识别", "unknown sex code"
    PHONE_INVALID = "phone_invalid", "电话号码无效", "invalid phone number"
    REGION_UNKNOWN = "region_unknown", "行政区划代码不存在", "unknown region code"
    REGION_INVALID = "region_invalid", "行政区划代码格式错误", "malformed region code"
    CODE_UNKNOWN = "code_unknown", "代码不在代码表中", "code not in code list"
    INTEGER_INVALID = "integer_invalid", "整数无效", "invalid integer"
    INTEGER_OUT_OF_RANGE = "integer_out_of_range", "数值超出允许范围", "number out of range"
    # Consistency between fields
    DOB_CONTRADICTS_ID = (
        "dob_contradicts_id",
        "出生日期与身份证号不符",
        "date of birth contradicts ID number",
    )
    SEX_CONTRADICTS_ID = "sex_contradicts_id", "性别与身份证号不符", "sex contradicts ID number"
    # Free text and file structure
    FIELD_TOO_LONG = "field_too_long", "字段过长", "field too long"
    WRONG_FIELD_COUNT = "wrong_field_count", "字段数不符", "wrong number of fields"
    NUL_BYTE = "nul_byte", "含空字符", "contains a NUL byte"
    INVALID_JSON = "invalid_json", "JSON 格式错误", "invalid JSON"
    NOT_AN_OBJECT = "not_an_object", "记录不是对象", "record is not an object"
    UNDECODABLE = "undecodable", "无法解码的文字", "text cannot be decoded"
    # Duplicates
    DUPLICATE_CONFLICT = "duplicate_conflict", "重复记录内容冲突", "conflicting duplicate records"


class FixRule(LabelledStrEnum):
    """A safe change made to a value during standardisation (recorded with the old value)."""

    TRIMMED = "trimmed", "去除首尾空白", "surrounding whitespace removed"
    WHITESPACE_COLLAPSED = "whitespace_collapsed", "合并连续空白", "whitespace runs collapsed"
    NUL_REMOVED = "nul_removed", "删除空字符", "NUL characters removed"
    FULLWIDTH_TO_HALFWIDTH = "fullwidth_to_halfwidth", "全角转半角", "full-width to half-width"
    ID_LOWERCASE_X = "id_lowercase_x", "身份证号小写x转大写", "ID number lower-case x upper-cased"
    ID_UPGRADED_15 = "id_upgraded_15", "15位身份证号升级为18位", "15-digit ID number upgraded"
    ID_INVALID_REMOVED = "id_invalid_removed", "删除无效身份证号", "invalid ID number removed"
    NAME_WHITESPACE = "name_whitespace", "删除姓名中的空格", "spaces in name removed"
    NAME_CASE = "name_case", "统一拼音姓名大小写", "case of Latin name normalised"
    NAME_TRADITIONAL_TO_SIMPLIFIED = (
        "name_traditional_to_simplified",
        "姓名繁体转简体",
        "traditional characters in name simplified",
    )
    NAME_MIDDLE_DOT_UNIFIED = (
        "name_middle_dot_unified",
        "统一姓名间隔号",
        "middle dot in name unified",
    )
    DATE_EXCEL_SERIAL = "date_excel_serial", "Excel 日期序号转日期", "Excel serial date converted"
    DATE_CHINESE_FORMAT = "date_chinese_format", "中文日期格式转换", "Chinese date format read"
    DOB_DAY_MONTH_SWAPPED = (
        "dob_day_month_swapped",
        "出生日期日月颠倒已更正",
        "day and month of birth date swapped back",
    )
    SEX_CODE_MAPPED = "sex_code_mapped", "性别代码转换", "sex code mapped"
    PHONE_NORMALISED = "phone_normalised", "电话号码规范化", "phone number normalised"
    REGION_PADDED = "region_padded", "行政区划代码补足12位", "region code padded to 12 digits"
    CODE_MAPPED = "code_mapped", "代码转换", "code mapped"
    NUMBER_NORMALISED = "number_normalised", "数字格式规范化", "number format normalised"
    # Applied by the ingestion pipeline across fields
    INVALID_VALUE_REMOVED = (
        "invalid_value_removed",
        "删除可选字段的无效值",
        "invalid value of an optional field removed",
    )
    ID_FROM_STUDENT_NUMBER = (
        "id_from_student_number",
        "由学籍号补全身份证号",
        "ID number taken from the student number",
    )
    DERIVED_FROM_ID = "derived_from_id", "由身份证号推算", "derived from the ID number"
