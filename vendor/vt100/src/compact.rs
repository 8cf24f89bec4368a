//! bottle: scrollback rows in a compact form.
//!
//! A row that scrolls off the top of the screen is packed into one byte
//! string: its text (one byte per printable ASCII cell, the UTF-8 bytes of
//! a lone character, a tagged raw form for anything else) and its
//! attributes as runs (a count of cells, then the attributes in 2 to 11
//! bytes). A 200-column row of coloured words takes ~300 bytes instead of
//! 6 400 as 32-byte cells. Rows are expanded back to cells only to be shown
//! (the scrollback offset's screenful), pulled back onto the screen by a
//! resize, or handed to a callback. Packing is exact: `expand(pack(row))`
//! equals the row trimmed of its trailing blank cells (what 0.18.1 kept).

use crate::attrs::{Attrs, Color};
use crate::cell::{Cell, IS_WIDE_CONTINUATION, LEN_BITS};
use crate::row::Row;
use alloc::{boxed::Box, vec::Vec};

const WRAPPED: u8 = 1;

// Cell tags in the text part. Printable ASCII (0x20..=0x7e) stands for
// itself and a UTF-8 lead byte (0xc2..=0xf4) starts a lone character; the
// rest are below 0x20.
const EMPTY: u8 = 0x00;
const RAW: u8 = 0x01;
const CONTINUATION: u8 = 0x02;

/// A row of scrollback, packed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompactRow(Box<[u8]>);

/// Buffers reused from one packed row to the next.
#[derive(Clone, Debug, Default)]
pub struct Scratch {
    runs: Vec<u8>,
    text: Vec<u8>,
}

/// A row handed to the `on_scroll` callback: one of the screen's, or one
/// of the scrollback's (expanded only if the callback reads it).
#[derive(Clone, Copy, Debug)]
pub enum RowRef<'a> {
    Full(&'a Row),
    Compact(&'a CompactRow),
}

impl CompactRow {
    /// Packs `row` without its trailing blank cells.
    pub fn pack(row: &Row, scratch: &mut Scratch) -> Self {
        let cells = row.cell_slice();
        let blank = cells
            .iter()
            .rev()
            .take_while(|c| **c == Cell::DEFAULT)
            .count();
        let cells = &cells[..cells.len() - blank];
        scratch.runs.clear();
        scratch.text.clear();
        let mut run: Option<(usize, Attrs)> = None;
        for cell in cells {
            let a = *cell.attrs();
            match &mut run {
                Some((count, attrs)) if *attrs == a => *count += 1,
                _ => {
                    if let Some((count, attrs)) = run {
                        put_run(&mut scratch.runs, count, &attrs);
                    }
                    run = Some((1, a));
                }
            }
            put_cell(&mut scratch.text, cell);
        }
        if let Some((count, attrs)) = run {
            put_run(&mut scratch.runs, count, &attrs);
        }
        let len = 1
            + varint_len(cells.len())
            + varint_len(scratch.runs.len())
            + scratch.runs.len()
            + scratch.text.len();
        let mut out = Vec::with_capacity(len);
        out.push(if row.wrapped() { WRAPPED } else { 0 });
        put_varint(&mut out, cells.len());
        put_varint(&mut out, scratch.runs.len());
        out.extend_from_slice(&scratch.runs);
        out.extend_from_slice(&scratch.text);
        debug_assert_eq!(out.len(), len);
        Self(out.into_boxed_slice())
    }

    /// The row as cells again.
    pub fn expand(&self) -> Row {
        let b = &self.0;
        let wrapped = b.first().is_some_and(|f| f & WRAPPED != 0);
        let mut r = 1;
        let n = get_varint(b, &mut r);
        let runs_len = get_varint(b, &mut r);
        let mut t = r + runs_len;
        let mut cells = Vec::with_capacity(n);
        let mut left = 0usize;
        let mut attrs = Attrs::default();
        while cells.len() < n {
            if left == 0 {
                left = get_varint(b, &mut r);
                attrs = get_attrs(b, &mut r);
                if left == 0 {
                    // Not written by `pack`; stop rather than spin.
                    break;
                }
            }
            left -= 1;
            let Some(&lead) = b.get(t) else { break };
            let mut cell = Cell::new();
            match lead {
                EMPTY => {
                    cell.clear(attrs);
                    t += 1;
                }
                CONTINUATION => {
                    cell.clear(attrs);
                    cell.set_wide_continuation(true);
                    t += 1;
                }
                RAW => {
                    let raw = b.get(t + 1).copied().unwrap_or(0);
                    let end = t + 2 + usize::from(raw & LEN_BITS);
                    cell = b
                        .get(t + 2..end)
                        .and_then(|text| Cell::from_raw(raw, text, attrs))
                        .unwrap_or_else(Cell::new);
                    t = end;
                }
                0x20..=0x7e => {
                    cell.set_ascii(lead, attrs);
                    t += 1;
                }
                _ => {
                    let w = utf8_len(lead);
                    match b
                        .get(t..t + w)
                        .and_then(|s| core::str::from_utf8(s).ok())
                        .and_then(|s| s.chars().next())
                    {
                        Some(c) => cell.set(c, attrs),
                        None => cell.clear(attrs),
                    }
                    t += w;
                }
            }
            cells.push(cell);
        }
        Row::from_cells(cells, wrapped)
    }

    /// Bytes held (for measuring).
    #[allow(dead_code)]
    pub fn packed_len(&self) -> usize {
        self.0.len()
    }
}

fn put_cell(out: &mut Vec<u8>, cell: &Cell) {
    let raw = cell.raw_len();
    let text = cell.text_bytes();
    if raw == 0 {
        out.push(EMPTY);
        return;
    }
    if raw == 1 && (0x20..=0x7e).contains(&text[0]) {
        out.push(text[0]);
        return;
    }
    if raw == IS_WIDE_CONTINUATION {
        out.push(CONTINUATION);
        return;
    }
    // A lone non-ASCII character, if `Cell::set` rebuilds exactly this
    // cell (wide flag included).
    if let Ok(s) = core::str::from_utf8(text) {
        let mut chars = s.chars();
        if let (Some(c), None) = (chars.next(), chars.next()) {
            if !c.is_ascii() {
                let mut probe = Cell::new();
                probe.set(c, *cell.attrs());
                if probe == *cell {
                    out.extend_from_slice(text);
                    return;
                }
            }
        }
    }
    out.push(RAW);
    out.push(raw);
    out.extend_from_slice(text);
}

fn utf8_len(lead: u8) -> usize {
    match lead {
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf7 => 4,
        _ => 1,
    }
}

fn put_run(out: &mut Vec<u8>, count: usize, a: &Attrs) {
    put_varint(out, count);
    out.push(a.mode);
    out.push(kind(a.fgcolor) | kind(a.bgcolor) << 2 | kind(a.ulcolor) << 4);
    for c in [a.fgcolor, a.bgcolor, a.ulcolor] {
        match c {
            Color::Default => {}
            Color::Idx(i) => out.push(i),
            Color::Rgb(r, g, b) => out.extend_from_slice(&[r, g, b]),
        }
    }
}

const fn kind(c: Color) -> u8 {
    match c {
        Color::Default => 0,
        Color::Idx(_) => 1,
        Color::Rgb(..) => 2,
    }
}

fn get_attrs(b: &[u8], i: &mut usize) -> Attrs {
    let byte = |i: &mut usize| {
        let v = b.get(*i).copied().unwrap_or(0);
        *i += 1;
        v
    };
    let mode = byte(i);
    let kinds = byte(i);
    let colour = |k: u8, i: &mut usize| match k & 3 {
        1 => Color::Idx(byte(i)),
        2 => Color::Rgb(byte(i), byte(i), byte(i)),
        _ => Color::Default,
    };
    let fgcolor = colour(kinds, i);
    let bgcolor = colour(kinds >> 2, i);
    let ulcolor = colour(kinds >> 4, i);
    Attrs {
        fgcolor,
        bgcolor,
        ulcolor,
        mode,
    }
}

const fn varint_len(mut v: usize) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

fn put_varint(out: &mut Vec<u8>, mut v: usize) {
    while v >= 0x80 {
        out.push(u8::try_from(v & 0x7f).unwrap_or(0) | 0x80);
        v >>= 7;
    }
    out.push(u8::try_from(v).unwrap_or(0));
}

fn get_varint(b: &[u8], i: &mut usize) -> usize {
    let mut v = 0usize;
    let mut shift = 0;
    while let Some(&byte) = b.get(*i) {
        *i += 1;
        if shift < usize::BITS {
            v |= usize::from(byte & 0x7f) << shift;
        }
        shift += 7;
        if byte & 0x80 == 0 {
            break;
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(p: &crate::Parser) {
        let mut scratch = Scratch::default();
        for row in p.screen().grid().drawing_rows() {
            let mut trimmed = row.clone();
            trimmed.trim();
            let packed = CompactRow::pack(row, &mut scratch);
            let back = packed.expand();
            assert_eq!(back.cell_slice(), trimmed.cell_slice());
            assert_eq!(back.wrapped(), trimmed.wrapped());
        }
    }

    #[test]
    fn every_kind_of_cell_survives_packing() {
        let mut p = crate::Parser::new(
            core::num::NonZeroU16::new(6).unwrap(),
            core::num::NonZeroU16::new(12).unwrap(),
            0,
        );
        p.process(
            "plain \x1b[1;3;4;7;9mall\x1b[0m\r\n\
             \x1b[38;2;1;2;3;48;5;200;58:5:9mrgb\x1b[0m 中文x\r\n\
             e\u{301}\u{302} \u{2764}\u{fe0f}|\u{1f600}\r\n\
             wrapped line that goes on\r\n\
             \x1b[5;3H\x1b[44m  \x1b[K"
                .as_bytes(),
        );
        round_trip(&p);
    }

    #[test]
    fn varints() {
        for v in [0usize, 1, 127, 128, 300, 16_383, 16_384, usize::MAX] {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            assert_eq!(out.len(), varint_len(v));
            let mut i = 0;
            assert_eq!(get_varint(&out, &mut i), v);
            assert_eq!(i, out.len());
        }
    }

    #[test]
    fn a_coloured_row_packs_small() {
        let mut p = crate::Parser::new(
            core::num::NonZeroU16::new(2).unwrap(),
            core::num::NonZeroU16::new(200).unwrap(),
            0,
        );
        for k in 0..21 {
            p.process(format!("\x1b[38;5;{k}mw{k:07} ").as_bytes());
        }
        let row = p.screen().grid().drawing_rows().next().unwrap();
        let packed = CompactRow::pack(row, &mut Scratch::default());
        assert!(packed.packed_len() < 300, "{}", packed.packed_len());
        round_trip(&p);
    }
}
