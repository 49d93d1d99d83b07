// One lead's dossier as a card: summary, findings with their evidence links, talking points,
// sources, and buttons to call the lead (asks to confirm first) or see the pages read.
import { Button } from "@/components/ui/button";
import { Badge } from "@/components/ui/badge";

export default function DossierCard() {
  // Reopened from history, Chainlit's SQL layer hands the props back as their JSON text.
  const d = typeof props === "string" ? JSON.parse(props) : props || {};
  const section = { marginTop: 10 };
  return (
    <div id="dossier-card" style={{ border: "1px solid hsl(var(--border))", borderRadius: 10, padding: 14, fontSize: 14, maxWidth: 760 }}>
      <div style={{ display: "flex", justifyContent: "space-between", flexWrap: "wrap", gap: 8 }}>
        <div>
          <div style={{ fontSize: 18, fontWeight: 600 }}>{d.name}</div>
          <div style={{ fontSize: 12, opacity: 0.75 }}>
            {d.website ? <a href={d.website} target="_blank" rel="noreferrer">{d.website}</a> : "no website"}
            {d.phone ? <> · <a href={`tel:${d.phone}`}>{d.phone}</a></> : null}
            {d.written ? <> · written {d.written}</> : null}
          </div>
        </div>
        <div style={{ display: "flex", gap: 6 }}>
          {d.phone ? (
            <Button size="sm" onClick={() => callAction({ name: "call_lead", payload: { opportunity_id: d.opportunity_id } })}>
              Call this lead
            </Button>
          ) : null}
          {d.audit_job_id ? (
            <Button size="sm" variant="outline" onClick={() => callAction({ name: "show_pages", payload: { audit_job_id: d.audit_job_id } })}>
              Scraped pages
            </Button>
          ) : null}
        </div>
      </div>
      <p style={section}>{d.summary}</p>
      {d.findings && d.findings.length ? (
        <div style={section}>
          <div style={{ fontWeight: 600 }}>Findings</div>
          <ul style={{ paddingLeft: 18, listStyle: "disc" }}>
            {d.findings.map((f, i) => (
              <li key={i} style={{ marginTop: 4 }}>
                {f.code ? <Badge variant="secondary" style={{ marginRight: 6, fontWeight: 400 }}>{f.code.replaceAll("_", " ").toLowerCase()}</Badge> : null}
                {f.title}{f.detail ? ` — ${f.detail}` : ""}
                {f.evidence_url ? <> · <a href={f.evidence_url} target="_blank" rel="noreferrer">evidence</a></> : null}
              </li>
            ))}
          </ul>
        </div>
      ) : null}
      {d.talking_points && d.talking_points.length ? (
        <div style={section}>
          <div style={{ fontWeight: 600 }}>Talking points</div>
          <ul style={{ paddingLeft: 18, listStyle: "disc" }}>
            {d.talking_points.map((t, i) => <li key={i}>{t}</li>)}
          </ul>
        </div>
      ) : null}
      {d.fit_reason ? <div style={section}><strong>Fit:</strong> {d.fit_reason}</div> : null}
      {d.sources && d.sources.length ? (
        <div style={{ ...section, fontSize: 12 }}>
          <strong>Sources:</strong>{" "}
          {d.sources.map((s, i) => (
            <span key={i}>{i ? " · " : ""}<a href={s.url} target="_blank" rel="noreferrer">{s.title || s.url}</a></span>
          ))}
        </div>
      ) : null}
    </div>
  );
}
