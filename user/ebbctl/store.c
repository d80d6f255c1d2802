// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Which store holds this host's desired state: chosen here once, for every write command. */
#include "ebbctl.h"

const struct ctl_store *ctl_store_here(void)
{
	return ctl_fleet() ? &ctl_store_etcd : &ctl_store_maps;
}
