//! Which updates a verb acts on. An update is named by its id, any unique prefix of it (the
//! tables show 8 characters), a KB number (`KB900001` or `900001`), its title or, when nothing
//! else matches, a part of one title; the search
//! filters (`--kb`, `--title`, `--category`, `--severity`) narrow what a search finds.

use wua_agent::UpdateSession;
use wua_agent::wua_types::{HResult, Update, UpdateCollection, WuError};

use crate::{CliResult, FilterArgs, services};

/// The updates a name can match: the newest revision of each update id, from the datastore
/// (imported, installed) and a service's catalog.
#[derive(Default)]
pub(crate) struct Pool {
    updates: Vec<Update>,
}

impl Pool {
    /// What the datastore records.
    pub(crate) fn known(session: &UpdateSession) -> CliResult<Pool> {
        let mut pool = Pool::default();
        for update in &session.known_updates()? {
            pool.add(update.clone());
        }
        Ok(pool)
    }

    /// What the datastore records and what `service` (or the default selection) offers,
    /// superseded or not: refreshed first unless `offline`. With no service at all, the
    /// datastore alone.
    pub(crate) fn known_and_synced(session: &UpdateSession, service: Option<&str>, offline: bool) -> CliResult<Pool> {
        let mut pool = Pool::known(session)?;
        let searcher = services::searcher(session, service, offline);
        searcher.set_include_potentially_superseded_updates(true);
        match searcher.search("DeploymentAction=*") {
            Ok(found) => {
                for update in &found.updates {
                    pool.add(update.clone());
                }
            }
            // With no service, only what is imported is known.
            Err(e) if e.hresult == HResult::WU_E_NO_SERVICE && service.is_none() => {}
            // Offline before any sync: the service has no index yet.
            Err(e) if offline && e.hresult == HResult::WUA_E_NOT_SYNCED => {}
            Err(e) => return Err(e),
        }
        Ok(pool)
    }

    /// Adds an update, keeping the newest revision of each id; of equal revisions the
    /// service's (so history names where it came from).
    fn add(&mut self, update: Update) {
        let id = update.identity();
        match self.updates.iter_mut().find(|u| u.identity().update_id == id.update_id) {
            Some(held) => {
                let held_rev = held.identity().revision_number;
                if id.revision_number > held_rev
                    || (id.revision_number == held_rev && update.service_id().is_some() && held.service_id().is_none())
                {
                    *held = update;
                }
            }
            None => self.updates.push(update),
        }
    }

    /// The update `name` names; unknown and ambiguous names are call errors that say what
    /// matched.
    pub(crate) fn find(&self, name: &str) -> CliResult<&Update> {
        let name = name.trim();
        let lower = name.to_ascii_lowercase();
        if let Some(exact) = self.updates.iter().find(|u| u.identity().update_id.eq_ignore_ascii_case(&lower)) {
            return Ok(exact);
        }
        let kb = kb_number(name);
        let is_prefix = !lower.is_empty() && lower.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
        let matches: Vec<&Update> = self
            .updates
            .iter()
            .filter(|u| {
                let id = u.identity().update_id.to_ascii_lowercase();
                (is_prefix && id.starts_with(&lower))
                    || kb.is_some_and(|kb| u.document().kb_article_ids.iter().any(|k| kb_number(k) == Some(kb)))
                    || u.title().eq_ignore_ascii_case(name)
            })
            .collect();
        // Nothing by id, KB or whole title: a part of one title will do.
        let matches = if matches.is_empty() {
            self.updates.iter().filter(|u| u.title().to_lowercase().contains(&name.to_lowercase())).collect()
        } else {
            matches
        };
        match matches.as_slice() {
            [one] => Ok(one),
            [] => Err(WuError::new(
                HResult::WU_E_UNKNOWN_ID,
                format!("no update is known by \"{name}\" (give its id, a unique prefix of it, KB1234 or its title)"),
            )),
            many => {
                let listed: Vec<String> =
                    many.iter().map(|u| format!("{} \"{}\"", u.identity().update_id, u.title())).collect();
                Err(WuError::new(
                    HResult::E_INVALIDARG,
                    format!("\"{name}\" matches {} updates: {}; give more of the id", many.len(), listed.join(", ")),
                ))
            }
        }
    }

    /// The updates `names` name, each once, in the order first named.
    pub(crate) fn find_all(&self, names: &[String]) -> CliResult<UpdateCollection> {
        let mut out = UpdateCollection::new();
        let mut seen = std::collections::HashSet::new();
        for name in names {
            let update = self.find(name)?;
            if seen.insert(update.identity().update_id) {
                out.add(update.clone())?;
            }
        }
        Ok(out)
    }
}

/// `KB900001`, `kb900001` or `900001` as its number.
fn kb_number(text: &str) -> Option<u64> {
    let digits = text.strip_prefix("KB").or_else(|| text.strip_prefix("kb")).unwrap_or(text);
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The search filters beyond the criteria, compiled.
pub(crate) struct Filters {
    kb: Vec<u64>,
    title: Option<regex::Regex>,
    category: Vec<String>,
    severity: Vec<String>,
}

impl Filters {
    /// Compiles `args`; a bad KB number or regular expression is an `E_INVALIDARG` naming it.
    pub(crate) fn new(args: &FilterArgs) -> CliResult<Filters> {
        let kb = args
            .kb
            .iter()
            .map(|k| {
                kb_number(k).ok_or_else(|| {
                    WuError::new(HResult::E_INVALIDARG, format!("--kb {k}: expected a KB number (KB1234 or 1234)"))
                })
            })
            .collect::<CliResult<_>>()?;
        let title = args
            .title
            .as_deref()
            .map(|t| {
                regex::RegexBuilder::new(t)
                    .case_insensitive(true)
                    .size_limit(1 << 20)
                    .build()
                    .map_err(|e| WuError::new(HResult::E_INVALIDARG, format!("--title: {e}")))
            })
            .transpose()?;
        const SEVERITIES: &[&str] = &["Critical", "Important", "Moderate", "Low", "Unspecified"];
        for s in &args.severity {
            if !SEVERITIES.iter().any(|known| known.eq_ignore_ascii_case(s)) {
                return Err(WuError::new(
                    HResult::E_INVALIDARG,
                    format!("--severity {s}: expected one of {}", SEVERITIES.join(", ")),
                ));
            }
        }
        Ok(Filters { kb, title, category: args.category.clone(), severity: args.severity.clone() })
    }

    /// Whether `update` passes every filter given.
    pub(crate) fn keep(&self, update: &Update) -> bool {
        let doc = update.document();
        let kb_ok =
            self.kb.is_empty() || doc.kb_article_ids.iter().any(|k| kb_number(k).is_some_and(|n| self.kb.contains(&n)));
        let title_ok = self.title.as_ref().is_none_or(|re| re.is_match(&doc.title));
        let category_ok = self.category.is_empty()
            || doc.categories.iter().any(|c| {
                self.category.iter().any(|want| c.name.eq_ignore_ascii_case(want) || c.id.eq_ignore_ascii_case(want))
            });
        let severity = if doc.msrc_severity.is_empty() { "Unspecified" } else { doc.msrc_severity.as_str() };
        let severity_ok = self.severity.is_empty() || self.severity.iter().any(|s| s.eq_ignore_ascii_case(severity));
        kb_ok && title_ok && category_ok && severity_ok
    }
}

/// The criteria a search runs with: the given ones, or D-26's default (without `IsHidden=0`
/// under `--include-hidden`).
pub(crate) fn criteria(args: &FilterArgs) -> String {
    match (args.criteria.trim().is_empty(), args.include_hidden) {
        (true, true) => "IsInstalled=0".to_owned(),
        _ => args.criteria.clone(),
    }
}

/// Searches as `args` say and keeps what the filters keep.
pub(crate) fn search(session: &UpdateSession, args: &FilterArgs) -> CliResult<wua_agent::wua_types::SearchResult> {
    let filters = Filters::new(args)?;
    let searcher = services::searcher(session, args.service.as_deref(), args.offline);
    searcher.set_include_potentially_superseded_updates(args.include_superseded);
    let mut result = searcher.search(&criteria(args))?;
    if args.narrows() {
        let kept: Vec<Update> = result.updates.iter().filter(|u| filters.keep(u)).cloned().collect();
        result.updates = UpdateCollection::read_only_from(kept);
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kb_numbers() {
        assert_eq!(kb_number("KB900001"), Some(900001));
        assert_eq!(kb_number("kb12"), Some(12));
        assert_eq!(kb_number("12"), Some(12));
        assert_eq!(kb_number("KB"), None);
        assert_eq!(kb_number("0b6f3c2e"), None);
    }

    #[test]
    fn the_default_criteria_and_include_hidden() {
        let mut args = FilterArgs::default();
        assert_eq!(criteria(&args), "");
        args.include_hidden = true;
        assert_eq!(criteria(&args), "IsInstalled=0");
        args.criteria = "IsInstalled=1".into();
        assert_eq!(criteria(&args), "IsInstalled=1");
    }
}
