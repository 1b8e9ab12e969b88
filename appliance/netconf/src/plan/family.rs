//! One interface and address family: which addresses and default routes to
//! remove and add, sorted into the phases of a plan.

use model::network::Cidr;

use crate::files::FileContents;
use crate::plan::Observed;
use crate::step::{DefaultRoute, Step};

/// Addresses and routes the old settings put on an interface.
pub(super) type Owned = Vec<(Option<Cidr>, Option<DefaultRoute>)>;

/// Addresses and default routes of one interface and family.
pub(super) struct Family<'a> {
    pub(super) dev: &'a str,
    /// Present addresses the box may remove (a subset of `present`).
    pub(super) owned: Vec<Cidr>,
    pub(super) present: Vec<Cidr>,
    pub(super) want: Vec<Cidr>,
    /// Present routes the box may remove (a subset of `present_routes`).
    pub(super) owned_routes: Vec<DefaultRoute>,
    pub(super) present_routes: Vec<DefaultRoute>,
    pub(super) want_routes: Vec<DefaultRoute>,
}

impl Family<'_> {
    /// Owns only these (when present), instead of everything present.
    pub(super) fn own_only(&mut self, owned: Owned) {
        self.owned = owned
            .iter()
            .filter_map(|(c, _)| *c)
            .filter(|c| self.present.contains(c))
            .collect();
        self.owned_routes = self
            .present_routes
            .iter()
            .filter(|p| {
                owned
                    .iter()
                    .any(|(_, r)| r.as_ref().is_some_and(|r| r.same_path(p)))
            })
            .cloned()
            .collect();
    }

    pub(super) fn diff(self, ph: &mut Phases) {
        let dev = self.dev;
        let goes = |c: &Cidr| !self.want.contains(c);
        let (del, kept, del_routes, kept_routes): (
            Vec<Cidr>,
            Vec<Cidr>,
            Vec<DefaultRoute>,
            Vec<DefaultRoute>,
        );
        if self.owned.iter().any(goes) {
            // Removing an address can take others (IPv4 secondaries) and the
            // routes through it along: rebuild what the box owns here.
            del = self.owned.iter().rev().copied().collect();
            kept = self
                .present
                .iter()
                .filter(|c| !self.owned.contains(c))
                .copied()
                .collect();
            del_routes = self.owned_routes.clone();
            kept_routes = self
                .present_routes
                .iter()
                .filter(|p| !self.owned_routes.contains(p))
                .cloned()
                .collect();
        } else {
            del = vec![];
            kept = self.present.clone();
            del_routes = self
                .owned_routes
                .iter()
                .filter(|p| !self.want_routes.iter().any(|w| w.same_path(p)))
                .cloned()
                .collect();
            kept_routes = self.present_routes.clone();
        }
        for r in del_routes {
            ph.del_routes.push(Step::DelDefaultRoute(r));
        }
        for cidr in del {
            ph.del_addrs.push(Step::DelAddress {
                dev: dev.into(),
                cidr,
            });
        }
        for cidr in self.want.iter().filter(|c| !kept.contains(c)) {
            ph.add_addrs.push(Step::AddAddress {
                dev: dev.into(),
                cidr: *cidr,
            });
        }
        for r in self.want_routes {
            if !kept_routes.iter().any(|k| k.same_path(&r)) {
                ph.add_routes.push(Step::AddDefaultRoute(r));
            }
        }
    }
}

/// Steps by phase; see the module docs of `plan` for the order.
#[derive(Default)]
pub(super) struct Phases {
    pub(super) enable: Vec<Step>,
    pub(super) del_routes: Vec<Step>,
    pub(super) del_addrs: Vec<Step>,
    pub(super) add_addrs: Vec<Step>,
    pub(super) add_routes: Vec<Step>,
    pub(super) disable: Vec<Step>,
    pub(super) last: Vec<Step>,
}

impl Phases {
    pub(super) fn finish_files(&mut self, current: &Observed, files: &[FileContents]) {
        for f in files {
            let previous = current.files.get(&f.path).cloned().flatten();
            if previous.as_deref() != Some(f.contents.as_str()) {
                self.last.push(Step::WriteFile {
                    path: f.path.clone(),
                    contents: f.contents.clone(),
                    previous,
                    mode: f.mode,
                });
            }
        }
    }

    pub(super) fn into_steps(self) -> Vec<Step> {
        [
            self.enable,
            self.del_routes,
            self.del_addrs,
            self.add_addrs,
            self.add_routes,
            self.disable,
            self.last,
        ]
        .concat()
    }
}
