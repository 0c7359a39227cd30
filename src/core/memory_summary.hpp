// shoal::memory_summary()'s table, from a runtime's ReferenceTable (the driver's, local mode's).
#pragma once

#include <shoal/observe.hpp>

#include "src/core/call_sites.hpp"
#include "src/core/reference_table.hpp"

namespace shoal::internal {

/// Every object of `refs`, biggest first (ties: oldest, i.e. lowest id, first), with the text of
/// its call site. Linear in the table's size, plus the sort. The caller holds the lock that
/// guards both tables; the store figures are left for it to fill.
MemorySummary summarize_objects(const ReferenceTable& refs, const CallSites& sites);

}  // namespace shoal::internal
