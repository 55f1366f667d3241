//! How the guest's console meets berth's terminal.

/// How the guest's console is connected to berth's terminal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConsoleMode {
    /// A pty forwarded both ways in raw mode.
    Interactive,
    /// The pty's output only.
    ReadOnly,
    /// A pty nobody reads.
    Passive,
    /// berth's own stdio, no pty.
    Pipe,
}
