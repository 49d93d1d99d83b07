"""Agencies and their profile (campaign defaults, criteria, services, branding)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select

from db.base import new_id, utcnow
from db.models import Agency, AgencyProfile
from db.repositories.base import NotFound, RepositoryBase


class AgencyRecords(RepositoryBase):
    async def ensure_agency(self, agency_id: str, *, name: str | None = None) -> Agency:
        """The agency, created (with an empty profile) when missing. Its billing customer is the
        agency id. Safe when two callers create the same agency at once."""
        await self.session.execute(
            self._insert(Agency)
            .values(id=agency_id, name=name or agency_id, billing_customer_id=agency_id, created_at=utcnow())
            .on_conflict_do_nothing()
        )
        await self.session.execute(
            self._insert(AgencyProfile)
            .values(id=new_id(), agency_id=agency_id, criteria=[], services_offered=[], updated_at=utcnow())
            .on_conflict_do_nothing()
        )
        agency = await self.get_agency(agency_id)
        if agency is None:
            # The insert was swallowed by another unique key: billing_customer_id taken by another agency.
            raise ValueError(f"cannot create agency {agency_id!r}: its billing customer id is already in use")
        if name is not None and agency.name != name:
            agency.name = name
            await self.session.flush()
        return agency

    async def get_agency(self, agency_id: str) -> Agency | None:
        return (
            await self.session.execute(
                select(Agency).where(Agency.id == agency_id).execution_options(populate_existing=True)
            )
        ).scalar_one_or_none()

    async def get_profile(self, agency_id: str) -> AgencyProfile | None:
        return (
            await self.session.execute(select(AgencyProfile).where(AgencyProfile.agency_id == agency_id))
        ).scalar_one_or_none()

    async def set_profile(
        self,
        agency_id: str,
        *,
        target_vertical: str | None = None,
        target_geography: str | None = None,
        criteria: Sequence[str] | None = None,
        services_offered: Sequence[str] | None = None,
        branding: Mapping[str, Any] | None = None,
    ) -> AgencyProfile:
        """Change the given fields only (None leaves a field as it is). `branding` is merged
        into the stored one key by key; a key given as None is removed."""
        profile = await self.get_profile(agency_id)
        if profile is None:
            if await self.get_agency(agency_id) is None:
                raise NotFound("agencies", agency_id)
            profile = AgencyProfile(agency_id=agency_id, criteria=[], services_offered=[])
            self.session.add(profile)
        if target_vertical is not None:
            profile.target_vertical = target_vertical
        if target_geography is not None:
            profile.target_geography = target_geography
        if criteria is not None:
            profile.criteria = list(criteria)
        if services_offered is not None:
            profile.services_offered = list(services_offered)
        if branding is not None:
            merged = {**(profile.branding or {}), **branding}
            profile.branding = {k: v for k, v in merged.items() if v is not None}
        await self.session.flush()
        return profile
