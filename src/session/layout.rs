//! Pane tiling: a binary tree of splits over pane ids, pure. `rects`
//! gives each pane its area for a given outer area; `neighbor` finds the
//! pane in a direction by geometry (what prefix+arrows focus).

use serde::{Deserialize, Serialize};

pub type PaneId = u64;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Split {
    /// Side by side (a vertical divider), tmux's `%`.
    Columns,
    /// One above the other, tmux's `"`.
    Rows,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Left,
    Right,
    Up,
    Down,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Area {
    pub x: u16,
    pub y: u16,
    pub w: u16,
    pub h: u16,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Node {
    Leaf(PaneId),
    Split {
        split: Split,
        /// The first part's share, in thousandths.
        ratio: u16,
        first: Box<Node>,
        second: Box<Node>,
    },
}

impl Node {
    /// Every pane, in reading order (left to right, top to bottom).
    pub fn panes(&self) -> Vec<PaneId> {
        match self {
            Node::Leaf(id) => vec![*id],
            Node::Split { first, second, .. } => {
                let mut v = first.panes();
                v.extend(second.panes());
                v
            }
        }
    }

    /// Splits `target`'s area in two, `new` taking the second half.
    /// Returns false when `target` is not here.
    pub fn split(&mut self, target: PaneId, split: Split, new: PaneId) -> bool {
        match self {
            Node::Leaf(id) if *id == target => {
                *self = Node::Split {
                    split,
                    ratio: 500,
                    first: Box::new(Node::Leaf(target)),
                    second: Box::new(Node::Leaf(new)),
                };
                true
            }
            Node::Leaf(_) => false,
            Node::Split { first, second, .. } => {
                first.split(target, split, new) || second.split(target, split, new)
            }
        }
    }

    /// The tree without `target` (its sibling takes the space); `None`
    /// when nothing is left.
    pub fn remove(self, target: PaneId) -> Option<Node> {
        match self {
            Node::Leaf(id) if id == target => None,
            leaf @ Node::Leaf(_) => Some(leaf),
            Node::Split {
                split,
                ratio,
                first,
                second,
            } => match (first.remove(target), second.remove(target)) {
                (Some(a), Some(b)) => Some(Node::Split {
                    split,
                    ratio,
                    first: Box::new(a),
                    second: Box::new(b),
                }),
                (Some(only), None) | (None, Some(only)) => Some(only),
                (None, None) => None,
            },
        }
    }

    /// Exchanges two panes' places.
    pub fn swap(&mut self, a: PaneId, b: PaneId) {
        match self {
            Node::Leaf(id) if *id == a => *id = b,
            Node::Leaf(id) if *id == b => *id = a,
            Node::Leaf(_) => {}
            Node::Split { first, second, .. } => {
                first.swap(a, b);
                second.swap(a, b);
            }
        }
    }

    /// Each pane's area within `area`. Splits leave no gap: the panes draw
    /// their own borders.
    pub fn areas(&self, area: Area) -> Vec<(PaneId, Area)> {
        let mut out = Vec::new();
        self.collect(area, &mut out);
        out
    }

    fn collect(&self, area: Area, out: &mut Vec<(PaneId, Area)>) {
        match self {
            Node::Leaf(id) => out.push((*id, area)),
            Node::Split {
                split,
                ratio,
                first,
                second,
            } => {
                let (a, b) = divide(area, *split, *ratio);
                first.collect(a, out);
                second.collect(b, out);
            }
        }
    }
}

fn divide(area: Area, split: Split, ratio: u16) -> (Area, Area) {
    let share = |total: u16| -> u16 {
        if total < 2 {
            return total;
        }
        let first = (u32::from(total) * u32::from(ratio.min(1000)) / 1000) as u16;
        first.clamp(1, total - 1)
    };
    match split {
        Split::Columns => {
            let w1 = share(area.w);
            (
                Area { w: w1, ..area },
                Area {
                    x: area.x + w1,
                    w: area.w - w1,
                    ..area
                },
            )
        }
        Split::Rows => {
            let h1 = share(area.h);
            (
                Area { h: h1, ..area },
                Area {
                    y: area.y + h1,
                    h: area.h - h1,
                    ..area
                },
            )
        }
    }
}

/// The pane next to `from` in `dir`: among panes whose area lies beyond
/// `from`'s edge and overlaps it on the other axis, the nearest, then the
/// one with the most overlap.
pub fn neighbor(areas: &[(PaneId, Area)], from: PaneId, dir: Direction) -> Option<PaneId> {
    let (_, a) = *areas.iter().find(|(id, _)| *id == from)?;
    let overlap = |lo1: u16, len1: u16, lo2: u16, len2: u16| -> i32 {
        let (lo1, hi1, lo2, hi2) = (
            i32::from(lo1),
            i32::from(lo1) + i32::from(len1),
            i32::from(lo2),
            i32::from(lo2) + i32::from(len2),
        );
        hi1.min(hi2) - lo1.max(lo2)
    };
    areas
        .iter()
        .filter(|(id, _)| *id != from)
        .filter_map(|(id, b)| {
            let (gap, shared) = match dir {
                Direction::Left => (
                    i32::from(a.x) - (i32::from(b.x) + i32::from(b.w)),
                    overlap(a.y, a.h, b.y, b.h),
                ),
                Direction::Right => (
                    i32::from(b.x) - (i32::from(a.x) + i32::from(a.w)),
                    overlap(a.y, a.h, b.y, b.h),
                ),
                Direction::Up => (
                    i32::from(a.y) - (i32::from(b.y) + i32::from(b.h)),
                    overlap(a.x, a.w, b.x, b.w),
                ),
                Direction::Down => (
                    i32::from(b.y) - (i32::from(a.y) + i32::from(a.h)),
                    overlap(a.x, a.w, b.x, b.w),
                ),
            };
            (gap >= 0 && shared > 0).then_some((gap, -shared, *id))
        })
        .min()
        .map(|(_, _, id)| id)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCREEN: Area = Area {
        x: 0,
        y: 0,
        w: 100,
        h: 40,
    };

    #[test]
    fn splits_tile_the_area_exactly_and_removal_collapses() {
        let mut t = Node::Leaf(1);
        assert!(t.split(1, Split::Columns, 2));
        assert!(t.split(2, Split::Rows, 3));
        assert!(!t.split(9, Split::Rows, 4));
        let areas = t.areas(SCREEN);
        assert_eq!(
            areas,
            vec![
                (
                    1,
                    Area {
                        x: 0,
                        y: 0,
                        w: 50,
                        h: 40
                    }
                ),
                (
                    2,
                    Area {
                        x: 50,
                        y: 0,
                        w: 50,
                        h: 20
                    }
                ),
                (
                    3,
                    Area {
                        x: 50,
                        y: 20,
                        w: 50,
                        h: 20
                    }
                ),
            ]
        );
        let cells: u32 = areas
            .iter()
            .map(|(_, a)| u32::from(a.w) * u32::from(a.h))
            .sum();
        assert_eq!(cells, 100 * 40);
        assert_eq!(t.panes(), vec![1, 2, 3]);
        let t = t.remove(2).expect("left");
        assert_eq!(
            t.areas(SCREEN),
            vec![
                (
                    1,
                    Area {
                        x: 0,
                        y: 0,
                        w: 50,
                        h: 40
                    }
                ),
                (
                    3,
                    Area {
                        x: 50,
                        y: 0,
                        w: 50,
                        h: 40
                    }
                ),
            ]
        );
        let t = t.remove(1).expect("left");
        assert_eq!(t, Node::Leaf(3));
        assert_eq!(t.remove(3), None);
    }

    #[test]
    fn odd_and_tiny_areas_never_lose_a_cell() {
        let mut t = Node::Leaf(1);
        t.split(1, Split::Columns, 2);
        for w in [1u16, 2, 3, 7, 101] {
            let areas = t.areas(Area {
                x: 0,
                y: 0,
                w,
                h: 1,
            });
            assert_eq!(areas.iter().map(|(_, a)| a.w).sum::<u16>(), w);
        }
    }

    #[test]
    fn neighbors_follow_geometry_and_swap_exchanges_places() {
        // 1 | 2
        //   | 3
        let mut t = Node::Leaf(1);
        t.split(1, Split::Columns, 2);
        t.split(2, Split::Rows, 3);
        let a = t.areas(SCREEN);
        assert_eq!(neighbor(&a, 1, Direction::Right), Some(2));
        assert_eq!(neighbor(&a, 3, Direction::Left), Some(1));
        assert_eq!(neighbor(&a, 2, Direction::Down), Some(3));
        assert_eq!(neighbor(&a, 3, Direction::Up), Some(2));
        assert_eq!(neighbor(&a, 1, Direction::Left), None);
        assert_eq!(neighbor(&a, 1, Direction::Up), None);
        t.swap(1, 3);
        assert_eq!(t.panes(), vec![3, 2, 1]);
    }
}
