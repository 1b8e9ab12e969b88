//! ClamAV body signatures (`.ndb`): `NAME:TARGET:OFFSET:HEXSIG[:MIN[:MAX]]`.
//!
//! HEXSIG is hex bytes with `??` (any byte), `a?`/`?a` (half bytes), `*`
//! (any gap), `{n}`, `{n-m}`, `{-n}`, `{n-}` (bounded gaps) and `(aa|bb)`
//! alternatives of equal length. OFFSET is `*`, `n`, `n,m`, `EOF-n` or
//! `EOF-n,m`; offsets relative to an executable's entry point or sections
//! are refused (the scanner does not parse executables).
//!
//! Matching is anchored: every signature's longest run of fixed bytes goes
//! into one Aho-Corasick automaton, so the data is read once whatever the
//! number of signatures, and only anchor hits are verified.

use std::collections::{HashMap, HashSet};

use aho_corasick::AhoCorasick;

use crate::hashsig::hex;
use crate::SignatureError;

/// One byte position: matches `b` when `b & mask == value`; alternatives
/// match one of several byte strings of the same length.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Elem {
    Byte { value: u8, mask: u8 },
    Alt(Vec<Vec<u8>>),
}

impl Elem {
    fn width(&self) -> usize {
        match self {
            Elem::Byte { .. } => 1,
            Elem::Alt(alts) => alts[0].len(),
        }
    }

    fn matches(&self, data: &[u8]) -> bool {
        match self {
            Elem::Byte { value, mask } => data[0] & mask == *value,
            Elem::Alt(alts) => alts.iter().any(|a| data.starts_with(a)),
        }
    }

    fn fixed(&self) -> Option<u8> {
        match self {
            Elem::Byte { value, mask: 0xff } => Some(*value),
            _ => None,
        }
    }
}

/// Bytes allowed between two segments: at least `min`, at most `max`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Gap {
    min: usize,
    max: Option<usize>,
}

/// Where the signature's first byte may be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Offset {
    Any,
    /// From `start` to `start + slack` bytes into the data.
    At {
        start: usize,
        slack: usize,
    },
    /// `back` bytes before the end, up to `slack` later.
    FromEnd {
        back: usize,
        slack: usize,
    },
}

impl Offset {
    fn parse(s: &str) -> Result<Offset, SignatureError> {
        if s == "*" {
            return Ok(Offset::Any);
        }
        let (base, slack) = match s.split_once(',') {
            Some((b, m)) => (b, number(m)?),
            None => (s, 0),
        };
        if let Some(back) = base.strip_prefix("EOF-") {
            return Ok(Offset::FromEnd {
                back: number(back)?,
                slack,
            });
        }
        if base.bytes().all(|b| b.is_ascii_digit()) {
            return Ok(Offset::At {
                start: number(base)?,
                slack,
            });
        }
        Err(SignatureError::Unsupported(format!("offset {s:?}")))
    }

    fn allows(self, start: usize, len: usize) -> bool {
        match self {
            Offset::Any => true,
            Offset::At { start: s, slack } => start >= s && start - s <= slack,
            Offset::FromEnd { back, slack } => len
                .checked_sub(back)
                .is_some_and(|s| start >= s && start - s <= slack),
        }
    }
}

fn number(s: &str) -> Result<usize, SignatureError> {
    s.parse()
        .map_err(|_| SignatureError::Syntax(format!("number {s:?}")))
}

/// One parsed `.ndb` signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BodySignature {
    /// Shown as the detection's name.
    pub name: String,
    /// ClamAV target type: 0 any file, else the file type it applies to.
    pub target: u8,
    offset: Offset,
    /// Fixed-width runs of elements, separated by `gaps`.
    segments: Vec<Vec<Elem>>,
    gaps: Vec<Gap>,
    /// (segment, index in it, length) of the longest run of fixed bytes.
    anchor: (usize, usize, usize),
}

/// Shortest anchor accepted: a signature of wildcards alone would have to
/// be tried at every byte.
const MIN_ANCHOR: usize = 2;

impl BodySignature {
    /// Parses one `.ndb` line.
    pub fn parse(line: &str) -> Result<BodySignature, SignatureError> {
        let mut fields = line.split(':');
        let (Some(name), Some(target), Some(offset), Some(sig)) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return Err(SignatureError::Syntax(
                "expected NAME:TARGET:OFFSET:HEXSIG".into(),
            ));
        };
        if name.is_empty() {
            return Err(SignatureError::Syntax("empty name".into()));
        }
        let target = target
            .parse()
            .map_err(|_| SignatureError::Syntax(format!("target {target:?}")))?;
        let offset = Offset::parse(offset)?;
        let (segments, gaps) = parse_hexsig(sig)?;
        let anchor = longest_fixed_run(&segments);
        if anchor.2 < MIN_ANCHOR {
            return Err(SignatureError::Syntax(format!(
                "signature needs at least {MIN_ANCHOR} fixed bytes in a row"
            )));
        }
        Ok(BodySignature {
            name: name.to_string(),
            target,
            offset,
            segments,
            gaps,
            anchor,
        })
    }

    fn anchor_bytes(&self) -> Vec<u8> {
        let (seg, at, len) = self.anchor;
        self.segments[seg][at..at + len]
            .iter()
            .filter_map(Elem::fixed)
            .collect()
    }

    /// Whether the signature matches with its anchor found at `hit`.
    fn verify(&self, search: &mut Search<'_>, hit: usize) -> bool {
        let (seg, at, _) = self.anchor;
        let before: usize = self.segments[seg][..at].iter().map(Elem::width).sum();
        let Some(start) = hit.checked_sub(before) else {
            return false;
        };
        if !search.segment_at(&self.segments[seg], start) {
            return false;
        }
        let end = start + width(&self.segments[seg]);
        self.backward(search, seg, start) && self.forward(search, seg + 1, end)
    }

    /// Segments before `seg` (which starts at `start`) fit, the first one
    /// where the offset allows.
    fn backward(&self, search: &mut Search<'_>, seg: usize, start: usize) -> bool {
        if seg == 0 {
            return self.offset.allows(start, search.data.len());
        }
        if search.failed.contains(&(false, seg, start)) {
            return false;
        }
        let prev = &self.segments[seg - 1];
        let gap = self.gaps[seg - 1];
        let len = width(prev);
        let Some(latest) = start.checked_sub(len + gap.min) else {
            return false;
        };
        let earliest = gap.max.map_or(0, |max| start.saturating_sub(len + max));
        // With only unbounded gaps before and no offset, the nearest fit
        // leaves the most room: no other needs trying.
        let greedy = self.offset == Offset::Any && self.gaps[..seg].iter().all(|g| g.max.is_none());
        for s in (earliest..=latest).rev() {
            if search.segment_at(prev, s) {
                if self.backward(search, seg - 1, s) {
                    return true;
                }
                if greedy {
                    break;
                }
            }
        }
        search.failed.insert((false, seg, start));
        false
    }

    /// Segments from `seg` on fit after `end`.
    fn forward(&self, search: &mut Search<'_>, seg: usize, end: usize) -> bool {
        let Some(next) = self.segments.get(seg) else {
            return true;
        };
        if search.failed.contains(&(true, seg, end)) {
            return false;
        }
        let gap = self.gaps[seg - 1];
        let len = width(next);
        let Some(last_start) = search.data.len().checked_sub(len) else {
            return false;
        };
        let first = end + gap.min;
        let last = gap
            .max
            .map_or(last_start, |max| (end + max).min(last_start));
        // With only unbounded gaps after, the earliest fit leaves the most
        // room: no other needs trying.
        let greedy = self.gaps[seg - 1..].iter().all(|g| g.max.is_none());
        for s in first..=last {
            if search.segment_at(next, s) {
                if self.forward(search, seg + 1, s + len) {
                    return true;
                }
                if greedy {
                    break;
                }
            }
        }
        search.failed.insert((true, seg, end));
        false
    }
}

/// Most segment comparisons one signature may spend on one file: a
/// signature whose gaps make matching explode gives up there (logged)
/// instead of stalling the filter.
pub const MAX_STEPS: usize = 1_000_000;

/// Matching one signature against one file: the states known to fail
/// (whichever anchor hit led there: each is tried once) and the steps spent.
struct Search<'d> {
    data: &'d [u8],
    /// (forward?, segment, position).
    failed: HashSet<(bool, usize, usize)>,
    steps: usize,
}

impl<'d> Search<'d> {
    fn new(data: &'d [u8]) -> Search<'d> {
        Search {
            data,
            failed: HashSet::new(),
            steps: 0,
        }
    }

    fn exhausted(&self) -> bool {
        self.steps >= MAX_STEPS
    }

    /// `segment` at `start`; false once the steps are spent.
    fn segment_at(&mut self, segment: &[Elem], start: usize) -> bool {
        if self.exhausted() {
            return false;
        }
        self.steps += 1;
        segment_at(segment, self.data, start)
    }
}

fn width(segment: &[Elem]) -> usize {
    segment.iter().map(Elem::width).sum()
}

fn segment_at(segment: &[Elem], data: &[u8], start: usize) -> bool {
    if start + width(segment) > data.len() {
        return false;
    }
    let mut at = start;
    segment.iter().all(|e| {
        let ok = e.matches(&data[at..]);
        at += e.width();
        ok
    })
}

fn longest_fixed_run(segments: &[Vec<Elem>]) -> (usize, usize, usize) {
    let mut best = (0, 0, 0);
    for (s, seg) in segments.iter().enumerate() {
        let mut run_start = 0;
        let mut run = 0;
        for (i, e) in seg.iter().enumerate() {
            if e.fixed().is_some() {
                if run == 0 {
                    run_start = i;
                }
                run += 1;
                if run > best.2 {
                    best = (s, run_start, run);
                }
            } else {
                run = 0;
            }
        }
    }
    best
}

type Parsed = (Vec<Vec<Elem>>, Vec<Gap>);

fn parse_hexsig(sig: &str) -> Result<Parsed, SignatureError> {
    let bad = |what: &str| SignatureError::Syntax(format!("{what} in {sig:?}"));
    let b = sig.as_bytes();
    let (mut segments, mut gaps) = (vec![Vec::new()], Vec::new());
    let mut i = 0;
    while i < b.len() {
        let gap = match b[i] {
            b'*' => {
                i += 1;
                Some(Gap { min: 0, max: None })
            }
            b'{' => {
                let close = sig[i..].find('}').ok_or_else(|| bad("unclosed {"))? + i;
                let gap = parse_gap(&sig[i + 1..close]).ok_or_else(|| bad("bad {gap}"))?;
                i = close + 1;
                Some(gap)
            }
            _ => None,
        };
        if let Some(gap) = gap {
            if segments.last().is_some_and(Vec::is_empty) {
                return Err(bad("a gap with no bytes before it"));
            }
            gaps.push(gap);
            segments.push(Vec::new());
            continue;
        }
        let elem = if b[i] == b'(' {
            let close = sig[i..].find(')').ok_or_else(|| bad("unclosed ("))? + i;
            let alts: Option<Vec<Vec<u8>>> = sig[i + 1..close].split('|').map(hex).collect();
            let alts = alts.filter(|a| !a.is_empty() && !a[0].is_empty());
            let alts = alts.ok_or_else(|| bad("bad alternatives"))?;
            if alts.iter().any(|a| a.len() != alts[0].len()) {
                return Err(bad("alternatives of different lengths"));
            }
            i = close + 1;
            Elem::Alt(alts)
        } else {
            let pair = sig
                .get(i..i + 2)
                .ok_or_else(|| bad("odd number of hex digits"))?;
            i += 2;
            half_bytes(pair).ok_or_else(|| bad("bad hex"))?
        };
        segments.last_mut().expect("never empty").push(elem);
    }
    if segments.last().is_some_and(Vec::is_empty) {
        return Err(bad("empty signature or trailing gap"));
    }
    Ok((segments, gaps))
}

fn parse_gap(spec: &str) -> Option<Gap> {
    let num = |s: &str| s.parse::<usize>().ok();
    match spec.split_once('-') {
        None => num(spec).map(|n| Gap {
            min: n,
            max: Some(n),
        }),
        Some(("", max)) => Some(Gap {
            min: 0,
            max: Some(num(max)?),
        }),
        Some((min, "")) => Some(Gap {
            min: num(min)?,
            max: None,
        }),
        Some((min, max)) => {
            let (min, max) = (num(min)?, num(max)?);
            (min <= max).then_some(Gap {
                min,
                max: Some(max),
            })
        }
    }
}

fn half_bytes(pair: &str) -> Option<Elem> {
    let nibble = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let p = pair.as_bytes();
    let (hi, lo) = (p[0], p[1]);
    let (value, mask) = match (hi, lo) {
        (b'?', b'?') => (0, 0),
        (b'?', l) => (nibble(l)?, 0x0f),
        (h, b'?') => (nibble(h)? << 4, 0xf0),
        (h, l) => ((nibble(h)? << 4) | nibble(l)?, 0xff),
    };
    Some(Elem::Byte { value, mask })
}

/// All body signatures, with the automaton over their anchors.
#[derive(Debug, Default)]
pub struct BodySignatures {
    sigs: Vec<BodySignature>,
    automaton: Option<AhoCorasick>,
}

impl BodySignatures {
    /// Builds the matcher.
    pub fn new(sigs: Vec<BodySignature>) -> Result<BodySignatures, SignatureError> {
        let anchors: Vec<Vec<u8>> = sigs.iter().map(BodySignature::anchor_bytes).collect();
        let automaton = if anchors.is_empty() {
            None
        } else {
            Some(
                AhoCorasick::new(&anchors)
                    .map_err(|e| SignatureError::Syntax(format!("automaton: {e}")))?,
            )
        };
        Ok(BodySignatures { sigs, automaton })
    }

    /// Number of signatures.
    pub fn len(&self) -> usize {
        self.sigs.len()
    }

    /// True when none are loaded.
    pub fn is_empty(&self) -> bool {
        self.sigs.is_empty()
    }

    /// The first signature for `target` (or any-target ones) matching `data`.
    pub fn find(&self, data: &[u8], target: Option<u8>) -> Option<&str> {
        let automaton = self.automaton.as_ref()?;
        let mut searches: HashMap<usize, Search<'_>> = HashMap::new();
        let found = automaton.find_overlapping_iter(data).find_map(|hit| {
            let index = hit.pattern().as_usize();
            let sig = &self.sigs[index];
            if sig.target != 0 && Some(sig.target) != target {
                return None;
            }
            let search = searches.entry(index).or_insert_with(|| Search::new(data));
            (!search.exhausted() && sig.verify(search, hit.start())).then_some(sig.name.as_str())
        });
        for (index, search) in &searches {
            if search.exhausted() {
                log::warn!(
                    "signature {} gave up after {MAX_STEPS} steps on a {}-byte file",
                    self.sigs[*index].name,
                    data.len()
                );
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pathological_signature_is_bounded() {
        // Found by fuzzing: a pinned offset and unbounded gaps over a file
        // of the anchor byte took exponential time (this test hung).
        let sig = BodySignature::parse("T:0:3:33*33333333*33333333*3333*33333333*3333").unwrap();
        let sigs = BodySignatures::new(vec![sig]).unwrap();
        let data = vec![b'3'; 20_000];
        assert_eq!(sigs.find(&data, None), Some("T"));
        let mut miss = vec![b'3'; 20_000];
        miss[0..3].copy_from_slice(b"xxx");
        miss[3] = b'x';
        assert_eq!(sigs.find(&miss, None), None);
    }

    fn matches(sig: &str, data: &[u8]) -> bool {
        let s = BodySignature::parse(&format!("T:0:*:{sig}")).unwrap();
        BodySignatures::new(vec![s])
            .unwrap()
            .find(data, None)
            .is_some()
    }

    #[test]
    fn fixed_bytes_and_wildcards() {
        assert!(matches("414243", b"xxABCxx"));
        assert!(!matches("414243", b"xxABxCx"));
        assert!(matches("4142??44", b"ABzD"));
        assert!(matches("41424?", b"ABC"), "half byte, low nibble free");
        assert!(matches("4142?3", b"ABC"), "half byte, high nibble free");
        assert!(!matches("4142?3", b"ABD"));
        assert!(matches("4142(43|58)", b"ABX"));
        assert!(!matches("4142(43|58)", b"ABY"));
    }

    #[test]
    fn gaps() {
        assert!(matches("4142*4344", b"AB....CD"));
        assert!(matches("4142{2}4344", b"AB..CD"));
        assert!(!matches("4142{2}4344", b"AB...CD"));
        assert!(matches("4142{1-3}4344", b"AB...CD"));
        assert!(!matches("4142{1-3}4344", b"ABCD"));
        assert!(matches("4142{-2}4344", b"ABCD"));
        assert!(matches("4142{2-}4344", b"AB.....CD"));
        assert!(!matches("4142{2-}4344", b"AB.CD"));
        // The anchor is the longest fixed run: here the last segment.
        assert!(matches("41*42434445", b"A..BCDE"));
        assert!(!matches("41*42434445", b"..BCDE"));
        assert!(matches("41{-1}42*43444546", b"AxB..CDEF"));
    }

    #[test]
    fn offsets() {
        let found = |line: &str, data: &[u8]| {
            let s = BodySignature::parse(line).unwrap();
            BodySignatures::new(vec![s])
                .unwrap()
                .find(data, None)
                .is_some()
        };
        assert!(found("T:0:2:4142", b"..AB"));
        assert!(!found("T:0:2:4142", b"...AB"));
        assert!(found("T:0:2,3:4142", b"....AB"));
        assert!(found("T:0:EOF-2:4142", b"....AB"));
        assert!(!found("T:0:EOF-3:4142", b"....AB"));
        assert!(found("T:0:0:41*4243", b"AxBC..BC"), "first segment pinned");
    }

    #[test]
    fn targets_restrict_where_a_signature_applies() {
        let s = BodySignature::parse("PE.Test:1:*:4d5a9000").unwrap();
        let sigs = BodySignatures::new(vec![s]).unwrap();
        assert_eq!(sigs.find(b"MZ\x90\x00", Some(1)), Some("PE.Test"));
        assert_eq!(sigs.find(b"MZ\x90\x00", Some(7)), None);
    }

    #[test]
    fn bad_signatures_are_refused_precisely() {
        for (line, why) in [
            ("T:0:*", "NAME:TARGET:OFFSET:HEXSIG"),
            (":0:*:4142", "empty name"),
            ("T:x:*:4142", "target"),
            ("T:0:EP+0:4142", "offset"),
            ("T:0:*:414", "odd number"),
            ("T:0:*:41zz", "bad hex"),
            ("T:0:*:4142{", "unclosed {"),
            ("T:0:*:4142{x}43", "bad {gap}"),
            ("T:0:*:4142{3-1}43", "bad {gap}"),
            ("T:0:*:*4142", "no bytes before"),
            ("T:0:*:4142*", "trailing gap"),
            ("T:0:*:41(42|4344)", "different lengths"),
            ("T:0:*:41??42", "fixed bytes"),
        ] {
            let e = BodySignature::parse(line).unwrap_err().to_string();
            assert!(e.contains(why), "{line}: {e}");
        }
    }
}
