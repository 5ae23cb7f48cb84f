//! [`IpNetwork`]: one entry of `trusted_proxies`, an address or a CIDR block.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use serde::{Serialize, Serializer};

/// An IP network: an address and a prefix length, as in `10.0.0.0/8` or `2001:db8::/32`; a bare
/// address is the network of that one address (`127.0.0.1` is `127.0.0.1/32`, `::1` is
/// `::1/128`).
///
/// Parsed once, when the configuration is loaded; a value always has a prefix within its
/// family's width and no address bits set to the right of the prefix.
///
/// ```
/// use regstack_core::config::IpNetwork;
///
/// let net: IpNetwork = "10.0.0.0/8".parse().unwrap();
/// assert!(net.contains("10.1.2.3".parse().unwrap()));
/// assert!(!net.contains("11.0.0.1".parse().unwrap()));
/// assert_eq!(net.to_string(), "10.0.0.0/8");
/// assert!("10.0.0.1/8".parse::<IpNetwork>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpNetwork {
    addr: IpAddr,
    prefix_len: u8,
}

impl IpNetwork {
    /// The network of `addr` with `prefix_len` leading bits; `Err` (with the reason) when the
    /// prefix is longer than the address or `addr` has bits set to the right of it.
    pub fn new(addr: IpAddr, prefix_len: u8) -> Result<Self, String> {
        let width = width(addr);
        if prefix_len > width {
            return Err(format!(
                "a prefix of /{prefix_len} is longer than the {width} bits of {addr}"
            ));
        }
        let net = IpNetwork { addr, prefix_len };
        if net.network() != addr {
            return Err(format!(
                "{addr}/{prefix_len} has address bits set to the right of the prefix \
                 (the network is {}/{prefix_len})",
                net.network()
            ));
        }
        Ok(net)
    }

    /// The network's first address.
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// How many leading bits are fixed.
    pub fn prefix_len(&self) -> u8 {
        self.prefix_len
    }

    /// `true` when `ip` lies in this network. An IPv4 address also lies in an IPv6 network that
    /// holds its IPv4-mapped form (`::ffff:a.b.c.d`), and an IPv4-mapped IPv6 address in the IPv4
    /// network of its IPv4 form, so a dual-stack listener's peers match either way of writing.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => mask_v4(ip, self.prefix_len) == net,
            (IpAddr::V6(net), IpAddr::V4(ip)) => {
                mask_v6(ip.to_ipv6_mapped(), self.prefix_len) == net
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => mask_v6(ip, self.prefix_len) == net,
            (IpAddr::V4(_), IpAddr::V6(_)) => false,
        }
    }

    /// `addr` with the bits right of the prefix cleared.
    fn network(&self) -> IpAddr {
        match self.addr {
            IpAddr::V4(a) => IpAddr::V4(mask_v4(a, self.prefix_len)),
            IpAddr::V6(a) => IpAddr::V6(mask_v6(a, self.prefix_len)),
        }
    }
}

fn width(addr: IpAddr) -> u8 {
    match addr {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

fn mask_v4(a: Ipv4Addr, prefix_len: u8) -> Ipv4Addr {
    let mask = u32::MAX
        .checked_shl(32 - u32::from(prefix_len))
        .unwrap_or(0);
    Ipv4Addr::from_bits(a.to_bits() & mask)
}

fn mask_v6(a: Ipv6Addr, prefix_len: u8) -> Ipv6Addr {
    let mask = u128::MAX
        .checked_shl(128 - u32::from(prefix_len))
        .unwrap_or(0);
    Ipv6Addr::from_bits(a.to_bits() & mask)
}

impl FromStr for IpNetwork {
    type Err = String;

    /// `<address>` or `<address>/<prefix length>`: an IPv4 or IPv6 address as the standard
    /// library writes them (no zone index, no brackets, no port) and a decimal prefix.
    fn from_str(text: &str) -> Result<Self, String> {
        let expected = || {
            format!(
                "expected an IP address or a CIDR block such as \"10.0.0.0/8\", \"127.0.0.1\" \
                 or \"::1/128\", got {text:?}"
            )
        };
        let (addr, prefix_len) = match text.split_once('/') {
            Some((addr, prefix)) => {
                let well_formed = !prefix.is_empty()
                    && prefix.len() <= 3
                    && prefix.bytes().all(|b| b.is_ascii_digit());
                if !well_formed {
                    return Err(expected());
                }
                let addr: IpAddr = addr.parse().map_err(|_| expected())?;
                let prefix_len: u8 = prefix.parse().map_err(|_| expected())?;
                (addr, prefix_len)
            }
            None => {
                let addr: IpAddr = text.parse().map_err(|_| expected())?;
                (addr, width(addr))
            }
        };
        IpNetwork::new(addr, prefix_len)
    }
}

impl fmt::Display for IpNetwork {
    /// `addr/prefix`, always with the prefix (`127.0.0.1/32`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix_len)
    }
}

impl Serialize for IpNetwork {
    /// As [`Display`](fmt::Display) writes it.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}
