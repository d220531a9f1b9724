"""Vocabulary of departments, sources, batches and source records."""

from __future__ import annotations

from childlink.store.enums import LabelledStrEnum


class DepartmentCode(LabelledStrEnum):
    """Stable codes of the departments seeded by default.

    Department codes are data (a deployment may add courts or a disability federation); this
    enum names the ones ChildLink ships mappings for, so code can refer to them without typos.
    """

    EDUCATION = "education", "教育局", "Education Bureau"
    CIVIL_AFFAIRS = "civil_affairs", "民政局", "Civil Affairs Bureau"
    PUBLIC_SECURITY = "public_security", "公安局", "Public Security Bureau"
    HEALTH = "health", "卫生健康委员会", "Health Commission"
    WOMENS_FEDERATION = "womens_federation", "妇女联合会", "Women's Federation"
    PROCURATORATE = "procuratorate", "人民检察院", "People's Procuratorate"


class SourceFormat(LabelledStrEnum):
    """How a department delivers a source; decides which reader ingest uses."""

    EXCEL = "excel", "Excel 表格", "Excel workbook"
    CSV = "csv", "CSV 文件", "CSV file"
    JSON = "json", "JSON 文件", "JSON file"
    DATABASE_EXTRACT = "database_extract", "数据库导出", "Database extract"
    DOCUMENT = "document", "文书", "Documents"


class BatchStatus(LabelledStrEnum):
    """Life cycle of one delivered file."""

    PENDING = "pending", "处理中", "Pending"
    COMMITTED = "committed", "已入库", "Committed"
    FAILED = "failed", "失败", "Failed"
    SUPERSEDED = "superseded", "已被替代", "Superseded"


class RecordStatus(LabelledStrEnum):
    """Outcome of standardising one row: bad rows are quarantined with a reason, never dropped."""

    ACCEPTED = "accepted", "已接收", "Accepted"
    FIXED = "fixed", "已修正", "Fixed"
    QUARANTINED = "quarantined", "已隔离", "Quarantined"
