"""Templates render the view models faithfully: masked values marked, hidden ones absent."""

from __future__ import annotations

import re
from pathlib import Path

from starlette.requests import Request

from childlink.access.choices import Purpose
from childlink.children.choices import Sex
from childlink.web.templating import PageContext, render
from childlink.web.viewmodels import (
    DepartmentView,
    EvidenceView,
    FieldView,
    ProfileView,
    RecordView,
    Viewer,
    WaterfallStep,
    WaterfallView,
)

WEB = Path(__file__).parents[3] / "src" / "childlink" / "web"
EXTERNAL = re.compile(r"(?:https?:)?//[A-Za-z0-9.-]+\.[A-Za-z]{2,}")


def _request(query: bytes = b"", cookies: str = "") -> Request:
    headers = [(b"cookie", cookies.encode())] if cookies else []
    return Request(
        {
            "type": "http",
            "method": "GET",
            "path": "/children/x",
            "query_string": query,
            "headers": headers,
            "scheme": "http",
            "server": ("testserver", 80),
        }
    )


PAGE = PageContext(
    viewer=Viewer("t1", "王老师", "教师", "Teacher / school", "522799200", "云岗乡"),
    csrf="token-123",
    purpose=Purpose.CASE_WORK,
)

PROFILE = ProfileView(
    child_id="c1",
    name="刘雯",
    sex=Sex.FEMALE,
    birth_date="2009-10-23",
    region_code="522799200201",
    region_name="小寺村",
    departments=(
        DepartmentView(
            code="education",
            name_zh="教育局",
            name_en="Education Bureau",
            records=(
                RecordView(
                    record_id="r1",
                    source_code="education.student_registry",
                    source_zh="学籍信息",
                    source_en="Student registry",
                    file_name="student_registry.xlsx",
                    sheet="2024学年",
                    row_number=13,
                    batch_date="2026-12-04",
                    fields=(
                        FieldView("id_number", "身份证号", "ID number", "522799********7024", True),
                        FieldView("name", "姓名", "Name", "刘雯"),
                        FieldView("sex", "性别", "Sex", "female", choice=Sex.FEMALE),
                    ),
                ),
            ),
        ),
    ),
    evidence=(
        EvidenceView(
            kind="Review",
            status="accepted",
            reviewer="civil",
            note=None,
            at="2026-12-04 10:00",
            waterfall=WaterfallView(
                -7.96, (WaterfallStep("name", "same characters", 8.16),), 0.2, 0.53
            ),
        ),
    ),
    withheld_sources=2,
)


def _html(request: Request, template: str = "children/profile.html") -> str:
    return render(request, template, PAGE, profile=PROFILE).body.decode()


def test_masked_values_are_marked_and_hidden_fields_absent() -> None:
    html = _html(_request())
    assert re.search(r'class="masked"[^>]*>522799\*{8}7024<', html)
    assert 'data-field="diagnosis"' not in html  # not in the view model, not on the page
    assert "女" in html
    assert "Female" not in html
    assert "另有 2 个数据来源" in html
    assert 'lang="zh-CN"' in html


def test_english_on_request_and_remembered() -> None:
    response = render(_request(b"lang=en"), "children/profile.html", PAGE, profile=PROFILE)
    html = response.body.decode()
    assert 'lang="en"' in html
    assert "Records by department" in html
    assert "Female" in html
    assert "lang=en" in response.headers["set-cookie"]
    again = render(_request(cookies="lang=en"), "children/profile.html", PAGE, profile=PROFILE)
    assert "set-cookie" not in again.headers
    assert "Records by department" in again.body.decode()


def test_waterfall_comparisons_are_named_in_the_page_language() -> None:
    html = _html(_request())
    assert "姓名" in html
    assert "+8.16" in html
    assert "-7.96" in html


def test_no_external_urls_in_templates_or_static_files() -> None:
    for path in [*WEB.joinpath("templates").rglob("*.html"), *WEB.joinpath("static").rglob("*")]:
        if path.is_file() and path.suffix in {".html", ".css", ".js"}:
            text = path.read_text(encoding="utf-8")
            assert not EXTERNAL.findall(text), path
            assert "http://" not in text, path
            assert "https://" not in text, path


def test_review_pairs_pass_the_reviewers_field_visibility() -> None:
    from childlink.access.service import Visibility
    from childlink.linkage.review import ReviewItem
    from childlink.web.adapt import review_view

    def side(record_id: str, name: str) -> dict[str, object]:
        return {
            "id": record_id,
            "name": name,
            "sex": "female",
            "birth_date": "2009-10-23",
            "id_number": "522799200910237024",
            "region_code": "522799200201",
            "master_child_id": None,
        }

    item = ReviewItem(
        id="r1",
        status="pending",
        rule=None,
        match_probability=0.9,
        match_weight=3.2,
        left=side("a", "刘雯"),
        right=side("b", "刘雯"),
        waterfall={},
        reviewer=None,
        note=None,
        decided_at=None,
        created_run_id=None,
    )
    levels = {
        "a": {"name": Visibility.FULL, "id_number": Visibility.MASKED, "sex": Visibility.FULL},
        "b": {},
    }
    view = review_view(item, lambda record: levels[str(record["id"])])
    left = {field.name: field for field in view.left.fields}
    assert set(left) == {"name", "id_number", "sex"}  # birth date and region hidden
    assert left["id_number"].value == "522799********7024"
    assert left["id_number"].masked
    assert not left["name"].masked
    assert view.right.fields == ()
    assert view.right.title is None
    assert view.waterfall is None


def test_family_block_masks_guardian_contacts() -> None:
    import uuid
    from datetime import UTC, datetime

    from childlink.children.choices import GuardianRelation, MembershipRelation
    from childlink.children.schemas import ChildProfile
    from childlink.households.schemas import FamilyRead, GuardianRead, MemberRead
    from childlink.web.adapt import _family

    child, sibling = uuid.uuid4(), uuid.uuid4()
    family = FamilyRead(
        id=uuid.uuid4(),
        household_key=None,
        region_code="522799200201",
        address=None,
        members=[
            MemberRead(
                master_child_id=child,
                display_name="刘雯",
                sex=Sex.FEMALE,
                birth_date=None,
                relation=MembershipRelation.CHILD,
                evidence={},
            ),
            MemberRead(
                master_child_id=sibling,
                display_name="刘强",
                sex=Sex.MALE,
                birth_date=datetime(2012, 5, 1, tzinfo=UTC).date(),
                relation=MembershipRelation.CHILD,
                evidence={},
            ),
        ],
        guardians=[
            GuardianRead(
                id=uuid.uuid4(),
                name="刘建国",
                id_number="522799198001011234",
                relation=GuardianRelation.FATHER,
                phone="13812345678",
                is_migrant_worker=True,
            )
        ],
    )
    profile = ChildProfile(
        master_child_id=child,
        display_name="刘雯",
        sex="female",
        birth_date=None,
        region_code=None,
        region_name=None,
        status="active",
        break_glass=False,
        sources=[],
        withheld_sources=0,
        family=[family.model_dump(mode="json")],
    )
    guardians, siblings = _family(profile)
    assert [person.name for person in guardians] == ["刘建国"]
    shown = {field.name: field for field in guardians[0].fields}
    assert shown["guardian_phone"].value == "138****5678"
    assert shown["guardian_id_number"].value == "522799********1234"
    assert all(field.masked for field in shown.values())
    assert [(person.name, person.child_id) for person in siblings] == [("刘强", str(sibling))]
    assert guardians[0].relation_zh == "父亲"
