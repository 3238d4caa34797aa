fn main() { println!("prismnetd: not built yet (raft issue)"); }
