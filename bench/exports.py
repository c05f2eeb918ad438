"""The benchmark's "unit x role level" export of a whole wave: the app's own
`reports.exports.build_unit_exports` (every unit under the root, each by role level) written
by `write_units_csv` / `write_units_xlsx`, as the export button "Every unit" does."""

from typing import BinaryIO


def _exports(wave_id: int, root_id: int) -> list:
    from reports import exports
    from surveys.models import Unit, Wave

    return exports.build_unit_exports(
        wave=Wave.objects.get(pk=wave_id),
        unit=Unit.objects.get(pk=root_id),
        view=("role_level", ("role_level",)),
    )


def write(*, fmt: str, wave_id: int, root_id: int, target: BinaryIO) -> int:
    """Write the export as CSV or XLSX to `target`; return the number of data rows."""
    from reports import exports

    if fmt == "csv":
        return exports.write_units_csv(_exports(wave_id, root_id), target)
    return exports.write_units_xlsx(_exports(wave_id, root_id), target)
