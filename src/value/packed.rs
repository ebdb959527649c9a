//! Parameters packed into one run of bytes: how a queued write carries its values to the
//! writer's thread.
//!
//! A queued write's parameters are built on the submitting thread and bound on the writer's.
//! As a `Vec<Param>` that was an allocation for the list and one per text or blob, made on one
//! thread and freed on the other (so neither thread's allocator cache ever got them back), and
//! binding followed three pointers into memory another core had just written. Packed, the
//! parameters of a typical write (a few numbers and a short text) sit inside the job itself,
//! which lives in the queue's own reused slots: no allocation on either side. Longer lists take
//! one allocation, never one per value.
//!
//! Must read back exactly what was pushed (names, types, bytes), and never abort on a size a
//! caller chose: a failed allocation is [`Status::NoMem`](crate::Status).

use rusqlite::types::ValueRef as SqlValueRef;

use crate::error::{Error, Result};

/// Bytes held inside the job before the list moves to the heap: two numbers and a 20-byte text
/// (`1+8 + 1+8 + 1+4+20`) fit.
const INLINE: usize = 44;

const NULL: u8 = 0;
const INTEGER: u8 = 1;
const REAL: u8 = 2;
const TEXT: u8 = 3;
const BLOB: u8 = 4;
/// Set on the tag of a named parameter; its name follows the tag (length, then UTF-8).
const NAMED: u8 = 0x80;

/// A parameter list in one buffer: per parameter a tag byte, for a named one its name (u32
/// length, UTF-8), then the value (8 bytes for a number, u32 length and the bytes for a text or
/// blob, nothing for NULL).
pub(crate) struct Packed {
    used: u32,
    count: u32,
    named: u32,
    store: Store,
}

enum Store {
    Inline([u8; INLINE]),
    Heap(Vec<u8>),
}

impl Default for Packed {
    fn default() -> Packed {
        Packed::new()
    }
}

impl std::fmt::Debug for Packed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.entries()).finish()
    }
}

impl Packed {
    /// An empty list.
    pub(crate) const fn new() -> Packed {
        Packed {
            used: 0,
            count: 0,
            named: 0,
            store: Store::Inline([0; INLINE]),
        }
    }

    /// Parameters in the list.
    pub(crate) fn len(&self) -> usize {
        self.count as usize
    }

    /// Named parameters in the list.
    pub(crate) fn named(&self) -> usize {
        self.named as usize
    }

    fn bytes(&self) -> &[u8] {
        let used = self.used as usize;
        match &self.store {
            Store::Inline(b) => &b[..used],
            Store::Heap(v) => &v[..used],
        }
    }

    /// Room for `extra` more bytes: in place while they fit, else on the heap (grown by
    /// doubling, so pushing n values copies O(n) bytes in all).
    fn reserve(&mut self, extra: usize) -> Result<&mut [u8]> {
        let used = self.used as usize;
        let need = used
            .checked_add(extra)
            .filter(|&n| n <= u32::MAX as usize)
            .ok_or_else(|| Error::invalid("the parameters are larger than 4 GiB in all"))?;
        match &mut self.store {
            Store::Inline(_) if need <= INLINE => {}
            Store::Inline(b) => {
                let mut v = Vec::new();
                v.try_reserve(need.max(2 * INLINE))
                    .map_err(|_| Error::nomem("parameters", need))?;
                v.extend_from_slice(&b[..used]);
                self.store = Store::Heap(v);
            }
            Store::Heap(v) if need > v.capacity() => {
                let more = need.max(2 * v.capacity()) - v.len();
                v.try_reserve(more)
                    .map_err(|_| Error::nomem("parameters", need))?;
            }
            Store::Heap(_) => {}
        }
        Ok(match &mut self.store {
            Store::Inline(b) => &mut b[used..need],
            Store::Heap(v) => {
                v.resize(need, 0);
                &mut v[used..need]
            }
        })
    }

    /// Append one parameter (`name` as the caller gave it, prefix or not). Inlined into the
    /// packing loops (a call per value cost about a third of the value's packing).
    #[inline(always)]
    pub(crate) fn push(&mut self, name: Option<&str>, value: SqlValueRef<'_>) -> Result<()> {
        if name.is_none() && self.push_inline(value) {
            return Ok(());
        }
        self.push_any(name, value)
    }

    /// The common case, a positional value while the list still fits in the job: written in
    /// place, with none of [`Packed::push_any`]'s growth and name handling (a pipelined write
    /// from C spent a tenth of its submitting thread's time packing two values). False, with
    /// nothing written, when the value does not fit.
    #[inline(always)]
    fn push_inline(&mut self, value: SqlValueRef<'_>) -> bool {
        let Store::Inline(b) = &mut self.store else {
            return false;
        };
        let used = self.used as usize;
        let (kind, body) = shape(value);
        let Some(out) = b.get_mut(used..used + 1 + body) else {
            return false;
        };
        out[0] = kind;
        match value {
            SqlValueRef::Null => {}
            SqlValueRef::Integer(i) => out[1..].copy_from_slice(&i.to_le_bytes()),
            SqlValueRef::Real(r) => out[1..].copy_from_slice(&r.to_bits().to_le_bytes()),
            SqlValueRef::Text(t) | SqlValueRef::Blob(t) => {
                out[1..5].copy_from_slice(&len32(t.len()).to_le_bytes());
                out[5..].copy_from_slice(t);
            }
        }
        self.used += (1 + body) as u32;
        self.count += 1;
        true
    }

    /// [`Packed::push`] for any parameter: named, or past what the job holds.
    fn push_any(&mut self, name: Option<&str>, value: SqlValueRef<'_>) -> Result<()> {
        let (kind, body) = shape(value);
        let head = name.map_or(0, |n| 4 + n.len());
        let out = self.reserve(1 + head + body)?;
        out[0] = kind | if name.is_some() { NAMED } else { 0 };
        let mut at = 1;
        let mut put = |bytes: &[u8]| {
            out[at..at + bytes.len()].copy_from_slice(bytes);
            at += bytes.len();
        };
        if let Some(n) = name {
            put(&len32(n.len()).to_le_bytes());
            put(n.as_bytes());
        }
        match value {
            SqlValueRef::Null => {}
            SqlValueRef::Integer(i) => put(&i.to_le_bytes()),
            SqlValueRef::Real(r) => put(&r.to_bits().to_le_bytes()),
            SqlValueRef::Text(b) | SqlValueRef::Blob(b) => {
                put(&len32(b.len()).to_le_bytes());
                put(b);
            }
        }
        self.used += (1 + head + body) as u32;
        self.count += 1;
        self.named += u32::from(name.is_some());
        Ok(())
    }

    /// Each value in order, for a list without names (`named() == 0`), until `f` fails: the
    /// writer's binding loop. One tight loop over the bytes with `f` inlined into it; through
    /// [`Entries`] a pipelined row spent about as much on reading its two values back as on
    /// binding them.
    #[inline]
    pub(crate) fn try_each_positional<E>(
        &self,
        mut f: impl FnMut(SqlValueRef<'_>) -> std::result::Result<(), E>,
    ) -> std::result::Result<(), E> {
        debug_assert_eq!(self.named, 0, "a list with names");
        let mut rest = self.bytes();
        while let Some((&tag, tail)) = rest.split_first() {
            let Some((value, after)) = value_after(tag, tail) else {
                break;
            };
            f(value)?;
            rest = after;
        }
        Ok(())
    }

    /// The parameters in order: name (as given) and value.
    pub(crate) fn entries(&self) -> Entries<'_> {
        Entries { rest: self.bytes() }
    }
}

/// A value's tag and the bytes that follow it (not counting a name).
#[inline]
fn shape(value: SqlValueRef<'_>) -> (u8, usize) {
    match value {
        SqlValueRef::Null => (NULL, 0),
        SqlValueRef::Integer(_) => (INTEGER, 8),
        SqlValueRef::Real(_) => (REAL, 8),
        SqlValueRef::Text(b) => (TEXT, 4 + b.len()),
        SqlValueRef::Blob(b) => (BLOB, 4 + b.len()),
    }
}

/// A length already bounded by `reserve` (the whole buffer is at most `u32::MAX` bytes).
fn len32(n: usize) -> u32 {
    n as u32
}

/// Reads a [`Packed`] list back.
#[derive(Clone)]
pub(crate) struct Entries<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Entries<'a> {
    type Item = (Option<&'a str>, SqlValueRef<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        let (&tag, mut rest) = self.rest.split_first()?;
        let name = if tag & NAMED != 0 {
            let (n, tail) = rest.split_first_chunk::<4>()?;
            let (name, tail) = tail.split_at_checked(u32::from_le_bytes(*n) as usize)?;
            rest = tail;
            // Pushed from a `&str`, so always UTF-8; checked again rather than trusted.
            Some(std::str::from_utf8(name).unwrap_or_default())
        } else {
            None
        };
        let (value, after) = value_after(tag & !NAMED, rest)?;
        self.rest = after;
        Some((name, value))
    }
}

/// The value a tag (without [`NAMED`]) starts, read from the bytes after the tag (and name),
/// and the bytes after it; `None` when they are too few (never for a list `push` built). The
/// one reader of the value format, for [`Entries`] and the writer's binding loop.
#[inline(always)]
fn value_after(tag: u8, bytes: &[u8]) -> Option<(SqlValueRef<'_>, &[u8])> {
    Some(match tag {
        INTEGER | REAL => {
            let (b, after) = bytes.split_first_chunk::<8>()?;
            let v = if tag == INTEGER {
                SqlValueRef::Integer(i64::from_le_bytes(*b))
            } else {
                SqlValueRef::Real(f64::from_bits(u64::from_le_bytes(*b)))
            };
            (v, after)
        }
        TEXT | BLOB => {
            let (n, body) = bytes.split_first_chunk::<4>()?;
            let (b, after) = body.split_at_checked(u32::from_le_bytes(*n) as usize)?;
            let v = if tag == TEXT {
                SqlValueRef::Text(b)
            } else {
                SqlValueRef::Blob(b)
            };
            (v, after)
        }
        _ => (SqlValueRef::Null, bytes),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(i: usize) -> (Option<String>, rusqlite::types::Value) {
        use rusqlite::types::Value as V;
        let name = (i % 3 == 1).then(|| format!("@p{i}"));
        let value = match i % 5 {
            0 => V::Null,
            1 => V::Integer(i as i64 * -7_000_000_001),
            2 => V::Real(i as f64 / 3.0),
            3 => V::Text("é".repeat(i % 40)),
            _ => V::Blob((0..i as u8).collect()),
        };
        (name, value)
    }

    fn owned(v: SqlValueRef<'_>) -> rusqlite::types::Value {
        use rusqlite::types::Value as V;
        match v {
            SqlValueRef::Null => V::Null,
            SqlValueRef::Integer(i) => V::Integer(i),
            SqlValueRef::Real(r) => V::Real(r),
            SqlValueRef::Text(b) => V::Text(String::from_utf8(b.to_vec()).unwrap()),
            SqlValueRef::Blob(b) => V::Blob(b.to_vec()),
        }
    }

    #[test]
    fn reads_back_what_was_pushed_inline_and_on_the_heap() {
        for n in [0, 1, 2, 3, 7, 50, 400] {
            let mut p = Packed::default();
            let want: Vec<_> = (0..n).map(sample).collect();
            for (name, value) in &want {
                p.push(name.as_deref(), value.into()).unwrap();
            }
            assert_eq!(p.len(), n);
            assert_eq!(p.named(), want.iter().filter(|(n, _)| n.is_some()).count());
            let got: Vec<_> = p
                .entries()
                .map(|(n, v)| (n.map(str::to_owned), owned(v)))
                .collect();
            assert_eq!(got, want, "{n} parameters");
        }
    }

    #[test]
    fn a_typical_write_stays_inline() {
        let mut p = Packed::default();
        p.push(None, SqlValueRef::Integer(42)).unwrap();
        p.push(None, SqlValueRef::Integer(-1)).unwrap();
        p.push(None, SqlValueRef::Text(b"twenty bytes of text"))
            .unwrap();
        assert!(matches!(p.store, Store::Inline(_)));
        p.push(None, SqlValueRef::Integer(7)).unwrap();
        assert!(matches!(p.store, Store::Heap(_)), "a third number moves it");
        assert_eq!(p.entries().count(), 4);
    }

    #[test]
    fn every_positional_kind_reads_back_from_the_job_and_past_it() {
        use rusqlite::types::Value as V;
        let values = [
            V::Text(String::new()),
            V::Blob(vec![]),
            V::Null,
            V::Real(-0.5),
            V::Blob(vec![0, 255, 7]),
            V::Integer(i64::MIN),
            V::Text("é".into()),
            // No longer fits in the job: the rest goes to the heap.
            V::Text("x".repeat(30)),
            V::Real(f64::MAX),
            V::Null,
        ];
        let mut p = Packed::default();
        for v in &values {
            p.push(None, v.into()).unwrap();
        }
        assert!(matches!(p.store, Store::Heap(_)));
        let got: Vec<_> = p.entries().map(|(n, v)| (n, owned(v))).collect();
        let want: Vec<_> = values.iter().map(|v| (None, v.clone())).collect();
        assert_eq!(got, want);
        assert_eq!((p.len(), p.named()), (values.len(), 0));
        // The writer's binding loop reads the same values back, inline and past the job.
        let mut each = Vec::new();
        p.try_each_positional(|v| {
            each.push((None, owned(v)));
            Ok::<(), ()>(())
        })
        .unwrap();
        assert_eq!(each, want);
        let mut inline = Packed::default();
        for v in &values[..7] {
            inline.push(None, v.into()).unwrap();
        }
        assert!(matches!(inline.store, Store::Inline(_)));
        let mut each = Vec::new();
        inline
            .try_each_positional(|v| {
                each.push(owned(v));
                Ok::<(), ()>(())
            })
            .unwrap();
        assert_eq!(each, values[..7]);
    }

    #[test]
    fn the_binding_loop_stops_at_the_first_failure() {
        let mut p = Packed::default();
        for i in 0..5 {
            p.push(None, SqlValueRef::Integer(i)).unwrap();
        }
        let mut seen = 0;
        let r = p.try_each_positional(|v| {
            seen += 1;
            match v {
                SqlValueRef::Integer(2) => Err("third"),
                _ => Ok(()),
            }
        });
        assert_eq!((r, seen), (Err("third"), 3));
    }
}
