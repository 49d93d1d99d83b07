"""Slack installs: which agency a Slack workspace acts for."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy import text as sql_text

from db.base import new_id, utcnow
from db.models import SlackInstall
from db.repositories.agencies import AgencyRecords

# Any fixed 64-bit number (distinct from db.migrate's lock): serialises first-contact Slack claims.
_SLACK_CLAIM_LOCK = 0x534C4143_4B434C4D


class SlackInstallRecords(AgencyRecords):
    async def get_slack_install(self, team_id: str) -> SlackInstall | None:
        """The install of a Slack workspace (a `SlackInstall`), or None. UNSCOPED on purpose: a
        Slack request names only its team; the install found is what tells the adapter which
        agency to act for (the request's signature was verified before this runs)."""
        stmt = select(SlackInstall).where(SlackInstall.team_id == team_id)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def install_slack_team(
        self, agency_id: str, team_id: str, *, bot_token: str | None = None
    ) -> SlackInstall:
        """Connect the workspace `team_id` to the agency (created when missing), or move it to
        this agency; returns the `SlackInstall`. An admin action: nothing checks who asked."""
        await self.ensure_agency(agency_id)
        await self.session.execute(
            self._insert(SlackInstall)
            .values(
                id=new_id(),
                team_id=team_id,
                agency_id=agency_id,
                bot_token=bot_token,
                source="admin",
                installed_at=utcnow(),
            )
            .on_conflict_do_update(
                index_elements=[SlackInstall.team_id],
                set_={"agency_id": agency_id, "bot_token": bot_token, "source": "admin"},
            )
        )
        stmt = (
            select(SlackInstall)
            .where(SlackInstall.team_id == team_id)
            .execution_options(populate_existing=True)
        )
        return (await self.session.execute(stmt)).scalar_one()

    async def claim_first_slack_install(self, team_id: str, agency_id: str) -> SlackInstall | None:
        """Single-workspace set-up: connect `team_id` to `agency_id` only when NO workspace is
        installed yet; returns the team's install (new, or its own existing one), or None when
        another workspace already holds an install (the caller refuses the request).

        Serialised so two unknown workspaces contacting us at once cannot both claim: SQLite's
        write transaction (`BEGIN IMMEDIATE`) already is; on PostgreSQL a transaction-scoped
        advisory lock is taken first."""
        if self.session.get_bind().dialect.name == "postgresql":
            await self.session.execute(
                sql_text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SLACK_CLAIM_LOCK}
            )
        existing = await self.get_slack_install(team_id)
        if existing is not None:
            return existing
        others = (await self.session.execute(select(func.count()).select_from(SlackInstall))).scalar_one()
        if others:
            return None
        await self.ensure_agency(agency_id)
        install = SlackInstall(
            id=new_id(), team_id=team_id, agency_id=agency_id, source="claimed", installed_at=utcnow()
        )
        self.session.add(install)
        await self.session.flush()
        return install

    async def list_slack_installs(self, agency_id: str) -> list[SlackInstall]:
        """The workspaces connected to the agency, oldest first."""
        stmt = (
            select(SlackInstall)
            .where(SlackInstall.agency_id == agency_id)
            .order_by(SlackInstall.installed_at, SlackInstall.id)
        )
        return list((await self.session.execute(stmt)).scalars())
