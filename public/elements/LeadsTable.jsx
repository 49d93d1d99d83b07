// The leads of a run: sortable (score, rating, reviews), filterable (status, finding), a score
// bar, finding badges, the phone as a tel: link and a dossier button per row. Below 640 px wide
// each lead is a card instead of a table row. Chainlit passes `props` and `callAction` as globals.
import { useMemo, useState } from "react";
import { Button } from "@/components/ui/button";
import { Badge } from "@/components/ui/badge";

const SORTS = { score: "Score", rating: "Rating", reviews: "Reviews" };

function ScoreBar({ value }) {
  const pct = Math.max(0, Math.min(100, Number(value) || 0));
  return (
    <div style={{ display: "flex", alignItems: "center", gap: 6, minWidth: 90 }}>
      <div style={{ flex: 1, height: 6, borderRadius: 3, background: "hsl(var(--muted))" }}>
        <div style={{ width: `${pct}%`, height: 6, borderRadius: 3, background: "hsl(var(--primary))" }} />
      </div>
      <span style={{ fontVariantNumeric: "tabular-nums", fontSize: 12 }}>{Math.round(pct)}</span>
    </div>
  );
}

function Findings({ row }) {
  const items = row.findings.length ? row.findings : row.signals.map((s) => ({ title: s }));
  if (!items.length) return <span style={{ opacity: 0.6 }}>none</span>;
  return (
    <div style={{ display: "flex", flexWrap: "wrap", gap: 4 }}>
      {items.slice(0, 6).map((f, i) => (
        <Badge key={i} variant="secondary" title={f.code || ""} style={{ fontWeight: 400 }}>
          {f.url ? <a href={f.url} target="_blank" rel="noreferrer">{f.title}</a> : f.title}
        </Badge>
      ))}
    </div>
  );
}

function Phone({ phone }) {
  return phone ? <a href={`tel:${phone}`} style={{ whiteSpace: "nowrap" }}>{phone}</a> : <span>—</span>;
}

function DossierButton({ row }) {
  if (!row.dossier) return <span style={{ opacity: 0.6, fontSize: 12 }}>no dossier</span>;
  return (
    <Button
      size="sm"
      variant="outline"
      aria-label={`Dossier: ${row.name}`}
      onClick={() => callAction({ name: "open_dossier", payload: { opportunity_id: row.id } })}
    >
      Dossier
    </Button>
  );
}

export default function LeadsTable() {
  // Reopened from history, Chainlit's SQL layer hands the props back as their JSON text.
  const data = typeof props === "string" ? JSON.parse(props) : props || {};
  const rows = data.rows || [];
  const [sort, setSort] = useState("score");
  const [status, setStatus] = useState("all");
  const [finding, setFinding] = useState("all");
  const narrow = typeof window !== "undefined" && window.innerWidth < 640;

  const statuses = useMemo(() => [...new Set(rows.map((r) => r.status))], [rows]);
  const findingNames = useMemo(() => {
    const names = new Set();
    rows.forEach((r) => (r.findings.length ? r.findings : r.signals.map((s) => ({ title: s }))).forEach((f) => names.add(f.title)));
    return [...names].sort();
  }, [rows]);

  const shown = useMemo(() => {
    const has = (r) => (r.findings.length ? r.findings.map((f) => f.title) : r.signals).includes(finding);
    return rows
      .filter((r) => status === "all" || r.status === status)
      .filter((r) => finding === "all" || has(r))
      .slice()
      .sort((a, b) => (Number(b[sort]) || 0) - (Number(a[sort]) || 0));
  }, [rows, sort, status, finding]);

  const select = { border: "1px solid hsl(var(--border))", borderRadius: 6, padding: "4px 6px", background: "transparent", color: "inherit", maxWidth: "100%" };
  const cell = { padding: "8px 6px", borderBottom: "1px solid hsl(var(--border))", verticalAlign: "top", textAlign: "left" };

  return (
    <div id="leads-table" style={{ width: "100%", fontSize: 14 }}>
      <div style={{ display: "flex", flexWrap: "wrap", gap: 8, alignItems: "center", marginBottom: 8 }}>
        <label>Sort by{" "}
          <select aria-label="Sort by" value={sort} onChange={(e) => setSort(e.target.value)} style={select}>
            {Object.entries(SORTS).map(([k, v]) => <option key={k} value={k}>{v}</option>)}
          </select>
        </label>
        <label>Status{" "}
          <select aria-label="Status" value={status} onChange={(e) => setStatus(e.target.value)} style={select}>
            <option value="all">all</option>
            {statuses.map((s) => <option key={s} value={s}>{s}</option>)}
          </select>
        </label>
        <label>Finding{" "}
          <select aria-label="Finding" value={finding} onChange={(e) => setFinding(e.target.value)} style={select}>
            <option value="all">all</option>
            {findingNames.map((s) => <option key={s} value={s}>{s}</option>)}
          </select>
        </label>
        <span style={{ opacity: 0.7 }}>{shown.length} of {rows.length}</span>
      </div>
      {narrow ? (
        <div style={{ display: "flex", flexDirection: "column", gap: 8 }}>
          {shown.map((r) => (
            <div key={r.id} className="lead-row" style={{ border: "1px solid hsl(var(--border))", borderRadius: 8, padding: 10 }}>
              <div style={{ display: "flex", justifyContent: "space-between", gap: 8 }}>
                <strong style={{ overflowWrap: "anywhere" }}>{r.website ? <a href={r.website} target="_blank" rel="noreferrer">{r.name}</a> : r.name}</strong>
                <DossierButton row={r} />
              </div>
              <ScoreBar value={r.score} />
              <div style={{ fontSize: 12, opacity: 0.8 }}>
                {r.status} · {r.rating ?? "—"}★ · {r.reviews ?? 0} reviews · <Phone phone={r.phone} />
              </div>
              <Findings row={r} />
              {r.fit ? <div style={{ fontSize: 12, marginTop: 4 }}>{r.fit}</div> : null}
            </div>
          ))}
        </div>
      ) : (
        <div style={{ overflowX: "auto" }}>
          <table style={{ width: "100%", borderCollapse: "collapse" }}>
            <thead>
              <tr>
                {["#", "Lead", "Score", "Rating", "Reviews", "Status", "Findings", "Phone", ""].map((h, i) => (
                  <th key={i} style={{ ...cell, fontWeight: 600, cursor: SORTS[h.toLowerCase()] ? "pointer" : "default" }}
                      onClick={() => SORTS[h.toLowerCase()] && setSort(h.toLowerCase())}>
                    {h}{sort === h.toLowerCase() ? " ↓" : ""}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {shown.map((r) => (
                <tr key={r.id} className="lead-row">
                  <td style={cell}>{r.rank}</td>
                  <td style={{ ...cell, minWidth: 180 }}>
                    <div style={{ fontWeight: 600 }}>{r.website ? <a href={r.website} target="_blank" rel="noreferrer">{r.name}</a> : r.name}</div>
                    {r.fit ? <div style={{ fontSize: 12, opacity: 0.8, maxWidth: 360 }}>{r.fit}</div> : null}
                  </td>
                  <td style={cell}><ScoreBar value={r.score} /></td>
                  <td style={cell}>{r.rating ?? "—"}</td>
                  <td style={cell}>{r.reviews ?? "—"}</td>
                  <td style={cell}>{r.status}{r.reused ? " (reused)" : ""}</td>
                  <td style={{ ...cell, minWidth: 200 }}><Findings row={r} /></td>
                  <td style={cell}><Phone phone={r.phone} /></td>
                  <td style={cell}><DossierButton row={r} /></td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}
