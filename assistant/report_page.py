"""A lead's report as HTML (the shared page) and as PDF (`leadgen report --pdf`, the chat, Slack).

The data comes from graphs/reports.py; this module only draws it. Everything in it that came
from the web (evidence quoted from a page, a page's title, the business's name) is text: Jinja's
autoescape turns `<script>` into `&lt;script&gt;`, and a URL becomes a link only when it is
http(s). The shared page also carries a Content-Security-Policy that allows no script at all.

The PDF is drawn by xhtml2pdf (pure Python over reportlab: no browser, no system libraries, no
network): the same template in its print variant, with tables rather than flexbox, and the logo
left out unless it is a `data:` URL (the renderer would otherwise fetch it from the web).
"""

from __future__ import annotations

import io
import re
from typing import Any
from urllib.parse import urlsplit

from jinja2 import Environment, select_autoescape

# The shared page may load images (the agency's logo) and its own inline styles; nothing else.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; img-src https: http: data:; style-src 'unsafe-inline'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
GRADE_COLOURS = {"A": "#2e7d32", "B": "#689f38", "C": "#f9a825", "D": "#ef6c00", "F": "#c62828"}

TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex, nofollow">
<title>{{ lead.name }}: online presence report by {{ agency.name }}</title>
<style>
  @page { size: a4; margin: 1.2cm; }
  body { font-family: Helvetica, Arial, sans-serif; color: #222; margin: 0; background: #f5f6f8; font-size: 14px; }
  .wrap { max-width: 860px; margin: 0 auto; background: #fff; }
  .band { background: {{ agency.primary_color }}; color: #fff; padding: 20px 28px; }
  .band h1 { margin: 6px 0 0 0; font-size: 24px; }
  .band .agency { font-size: 14px; font-weight: bold; }
  .band img { max-height: 48px; vertical-align: middle; margin-right: 10px; }
  .section { padding: 16px 28px; border-bottom: 1px solid #e4e6ea; }
  h2 { font-size: 18px; margin: 0 0 10px 0; color: {{ agency.primary_color }}; }
  h3 { font-size: 15px; margin: 12px 0 4px 0; }
  table.facts td { padding: 2px 12px 2px 0; vertical-align: top; }
  table.grades { border-collapse: collapse; width: 100%; }
  table.grades td { padding: 6px 8px; border-bottom: 1px solid #eee; }
  .grade { display: inline-block; width: 30px; text-align: center; color: #fff; font-weight: bold; font-size: 16px; padding: 3px 0; border-radius: 4px; }
  .finding { margin: 8px 0 12px 0; padding: 8px 12px; border-left: 4px solid {{ agency.accent_color }}; background: #fafafa; }
  .finding .why { color: #444; }
  .evidence { font-family: Courier, monospace; font-size: 12px; color: #555; white-space: pre-wrap; word-wrap: break-word; }
  .muted { color: #777; font-size: 12px; }
  .cta { display: inline-block; background: {{ agency.accent_color }}; color: #fff; padding: 10px 18px; text-decoration: none; font-weight: bold; border-radius: 4px; }
  ul.passed { margin: 4px 0; color: #2e7d32; }
</style>
</head>
<body>
<div class="wrap">
  <div class="band">
    <div class="agency">{% if logo %}<img src="{{ logo }}" alt="{{ agency.name }} logo">{% endif %}{{ agency.name }}</div>
    <h1>Online presence report: {{ lead.name }}</h1>
    <div>Prepared {{ generated_on }}{% if lead.geography %} &middot; {{ lead.vertical or "" }} in {{ lead.geography }}{% endif %}</div>
  </div>

  <div class="section" id="facts">
    <h2>The business</h2>
    <table class="facts">
      <tr><td><b>Name</b></td><td>{{ lead.name }}</td></tr>
      {% if lead.address %}<tr><td><b>Address</b></td><td>{{ lead.address }}</td></tr>{% endif %}
      {% if lead.phone %}<tr><td><b>Phone</b></td><td>{{ lead.phone }}</td></tr>{% endif %}
      <tr><td><b>Website</b></td><td>{% if lead.website %}{{ lead.website }}{% else %}none listed{% endif %}</td></tr>
      <tr><td><b>Google rating</b></td><td>{% if lead.rating is not none %}{{ "%.1f"|format(lead.rating) }} stars{% else %}not rated{% endif %}{% if lead.reviews_count is not none %} from {{ lead.reviews_count }} reviews{% endif %}</td></tr>
    </table>
  </div>

  <div class="section" id="grades">
    <h2>At a glance</h2>
    <table class="grades">
      {% for c in categories %}
      <tr class="category-row">
        <td width="48"><span class="grade" style="background: {{ grade_colour(c.grade) }}">{{ c.grade }}</span></td>
        <td><b>{{ c.name }}</b></td>
        <td class="muted">{% if c.checked %}{{ c.failed }} of {{ c.checked }} checks need work{% else %}not checked{% if not lead.audited %} (no website to check){% endif %}{% endif %}</td>
      </tr>
      {% endfor %}
    </table>
  </div>

  {% for c in categories %}{% if c.findings or c.passed %}
  <div class="section category" id="category-{{ c.key }}">
    <h2>{{ c.name }} <span class="grade" style="background: {{ grade_colour(c.grade) }}">{{ c.grade }}</span></h2>
    {% for f in c.findings %}
    <div class="finding" data-code="{{ f.code }}">
      <h3>{{ f.plain_title }}</h3>
      {% if f.detail and f.detail != f.why %}<div>{{ f.detail }}</div>{% endif %}
      <div class="why"><b>Why it matters:</b> {{ f.why }}</div>
      {% if f.evidence %}<div class="evidence">{{ f.evidence }}</div>{% endif %}
      {% if f.evidence_url %}<div class="muted">Seen on: {% if is_web(f.evidence_url) %}<a href="{{ f.evidence_url }}" rel="nofollow noopener noreferrer">{{ f.evidence_url }}</a>{% else %}{{ f.evidence_url }}{% endif %}</div>{% endif %}
    </div>
    {% endfor %}
    {% if c.passed %}<div class="muted">Already in good shape:</div><ul class="passed">{% for p in c.passed %}<li>{{ p }}</li>{% endfor %}</ul>{% endif %}
  </div>
  {% endif %}{% endfor %}

  <div class="section" id="comparison">
    <h2>How {{ lead.name }} compares</h2>
    {% if comparison.peers %}
    <p>Against {{ comparison.peers }} other {{ lead.vertical or "businesses" }}{% if lead.geography %} in {{ lead.geography }}{% endif %}:</p>
    <ul>
      <li>Google rating: {% if comparison.rating_percentile is not none %}higher than {{ comparison.rating_percentile }}% of them{% else %}not comparable{% endif %}</li>
      <li>Number of reviews: {% if comparison.review_count_percentile is not none %}more than {{ comparison.review_count_percentile }}% of them{% else %}not comparable{% endif %}</li>
      {% for s in comparison_sentences %}<li class="peer-sentence">{{ s }}</li>{% endfor %}
    </ul>
    {% else %}<p class="muted">No competitors to compare with yet.</p>{% endif %}
  </div>

  <div class="section" id="cta">
    <h2>Want help fixing this?</h2>
    <p>{{ agency.name }} fixes exactly these issues for local businesses.</p>
    {% if agency.cta_url %}<p><a class="cta" href="{{ agency.cta_url }}" rel="noopener noreferrer">{{ agency.cta_label }}</a></p>{% endif %}
    {% if agency.contact_email or agency.contact_phone %}<p>{% if agency.contact_email %}Email: {{ agency.contact_email }}{% endif %}{% if agency.contact_email and agency.contact_phone %} &middot; {% endif %}{% if agency.contact_phone %}Phone: {{ agency.contact_phone }}{% endif %}</p>{% endif %}
    <p class="muted">Based on public information: {% if lead.audited %}the pages of {{ lead.website }} read on {{ audited_on }} and {% endif %}the business's Google listing.</p>
  </div>
</div>
</body>
</html>
"""

_ENV = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
_TEMPLATE = _ENV.from_string(TEMPLATE)

NOT_FOUND_HTML = (
    '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="robots" content="noindex">'
    "<title>Report not found</title></head><body><h1>Report not found</h1>"
    "<p>This link does not lead to a report.</p></body></html>"
)


def _is_web(url: Any) -> bool:
    return isinstance(url, str) and urlsplit(url).scheme.lower() in ("http", "https")


def render_html(report: dict[str, Any], *, for_pdf: bool = False) -> str:
    agency = report["agency"]
    logo = agency.get("logo_url")
    if logo and (for_pdf and not str(logo).startswith("data:image/")):
        logo = None
    if logo and not (_is_web(logo) or str(logo).startswith("data:image/")):
        logo = None
    return _TEMPLATE.render(
        **report,
        logo=logo,
        generated_on=str(report["generated_at"])[:10],
        audited_on=str(report["lead"].get("audited_at") or "")[:10],
        grade_colour=lambda g: GRADE_COLOURS.get(g, "#9e9e9e"),
        is_web=_is_web,
    )


class PdfRenderFailed(RuntimeError):
    pass


def render_pdf(report: dict[str, Any]) -> bytes:
    """The report as a PDF document."""
    from xhtml2pdf import pisa

    # The PDF's built-in fonts (Helvetica, Courier) have no star: say it in words.
    html = render_html(report, for_pdf=True).replace("\u2605", " stars")
    buffer = io.BytesIO()

    def no_fetch(uri: str, rel: str) -> str:
        # The PDF is drawn offline: anything but inline data is left out, never fetched.
        return uri if uri.startswith("data:") else ""

    status = pisa.CreatePDF(html, dest=buffer, encoding="utf-8", link_callback=no_fetch)
    if status.err:
        raise PdfRenderFailed(f"the PDF renderer reported {status.err} error(s)")
    return _without_trailing_blank_pages(buffer.getvalue())


def pdf_file_name(lead_name: str) -> str:
    """The PDF's file name where it is attached (chat, Slack): the lead's name, made safe."""
    slug = re.sub(r"[^a-z0-9]+", "-", lead_name.lower()).strip("-")[:40] or "lead"
    return f"report-{slug}.pdf"


def _without_trailing_blank_pages(pdf: bytes) -> bytes:
    """xhtml2pdf sometimes ends a document with an empty page (content that ends right at a page
    break); a page with no text at the end is dropped."""
    from pypdf import PdfReader, PdfWriter

    reader = PdfReader(io.BytesIO(pdf))
    keep = len(reader.pages)
    while keep > 1 and not reader.pages[keep - 1].extract_text().strip():
        keep -= 1
    if keep == len(reader.pages):
        return pdf
    writer = PdfWriter()
    for page in reader.pages[:keep]:
        writer.add_page(page)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


__all__ = [
    "CONTENT_SECURITY_POLICY",
    "NOT_FOUND_HTML",
    "PdfRenderFailed",
    "pdf_file_name",
    "render_html",
    "render_pdf",
]
