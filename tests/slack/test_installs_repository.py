"""The install table on SQLite and PostgreSQL: one claim while nothing is installed (also when
unknown teams race), admin installs move a team, lookups by team id."""

from __future__ import annotations

import asyncio

from db import open_database


async def test_first_contact_claim_is_single_even_when_teams_race(database_url: str) -> None:
    database = await open_database(database_url)
    try:

        async def claim(team: str) -> str | None:
            async with database.transaction() as repo:
                install = await repo.claim_first_slack_install(team, "acme")
                return install.agency_id if install else None

        results = await asyncio.gather(*(claim(f"TRACE{i}") for i in range(6)))
        assert sorted(r for r in results if r) == ["acme"], results
        winner = f"TRACE{results.index('acme')}"
        # The winner claims again (a later request): its own install, unchanged.
        assert await claim(winner) == "acme"
        assert await claim("TLATE") is None

        async with database.transaction() as repo:
            moved = await repo.install_slack_team("beta", "TLATE", bot_token="xoxb-late")
            assert (moved.agency_id, moved.bot_token, moved.source) == ("beta", "xoxb-late", "admin")
            again = await repo.install_slack_team("acme", "TLATE")
            assert (again.agency_id, again.bot_token) == ("acme", None)
        async with database.reader() as repo:
            assert [i.team_id for i in await repo.list_slack_installs("acme")] == [winner, "TLATE"]
            assert await repo.list_slack_installs("beta") == []
            install = await repo.get_slack_install(winner)
            assert install is not None and install.source == "claimed"
            assert await repo.get_slack_install("TNOBODY") is None
    finally:
        await database.close()
