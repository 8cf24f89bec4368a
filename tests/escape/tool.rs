//! This executable as the attack tool inside a bottle: `escape tool <cmd>
//! ARGS`, run as the agent. Each command prints what happened and exits 0
//! when the attempt *succeeded* at the socket level (so the host-side
//! trial decides what that means), 1 when it was refused, 2 on bad use.
//! It avoids `statx` (Debian's runsc answers it with EINVAL).

pub fn dispatch() -> Option<i32> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) != Some("tool") {
        return None;
    }
    let cmd = args.get(2).cloned().unwrap_or_default();
    let rest = &args[3.min(args.len())..];
    let result = crate::network::tool(&cmd, rest)
        .or_else(|| crate::holder::tool(&cmd, rest))
        .or_else(|| crate::egress::tool(&cmd, rest));
    Some(match result {
        Some(Ok(text)) => {
            println!("{text}");
            0
        }
        Some(Err(text)) => {
            println!("{text}");
            1
        }
        None => {
            eprintln!("escape tool: unknown command {cmd:?}");
            2
        }
    })
}
