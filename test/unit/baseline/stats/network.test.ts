import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  canonicalAddress,
  compileCidrs,
  inCidrs,
  isPrivate,
  networkOf,
  parseAddress,
} from '../../../../src/baseline/stats/network.js';

describe('networkOf', () => {
  it('keys IPv4 by /24 and IPv6 by /64 in canonical text', () => {
    expect(networkOf('10.1.2.3')).toBe('10.1.2.0/24');
    expect(networkOf(' 192.168.77.200 ')).toBe('192.168.77.0/24');
    expect(networkOf('2001:db8:1:2:3:4:5:6')).toBe('2001:db8:1:2::/64');
    expect(networkOf('2001:0DB8:0001:0002:ffff::1')).toBe('2001:db8:1:2::/64');
    expect(networkOf('[2001:db8::1]')).toBe('2001:db8::/64');
    expect(networkOf('fe80::1%eth0')).toBe('fe80::/64');
    expect(networkOf('::1')).toBe('::/64');
  });

  it('treats IPv4-mapped IPv6 as IPv4', () => {
    expect(networkOf('::ffff:10.1.2.3')).toBe('10.1.2.0/24');
    expect(networkOf('::ffff:0a01:0203')).toBe('10.1.2.0/24');
    expect(canonicalAddress('::FFFF:10.1.2.3')).toBe('10.1.2.3');
  });

  it('honours other prefixes, including the edges', () => {
    expect(networkOf('10.1.2.3', 16)).toBe('10.1.0.0/16');
    expect(networkOf('10.1.2.3', 32)).toBe('10.1.2.3/32');
    expect(networkOf('10.1.2.3', 0)).toBe('0.0.0.0/0');
    expect(networkOf('10.1.2.3', 20)).toBe('10.1.0.0/20');
    expect(networkOf('2001:db8:abcd:1234::1', 24, 48)).toBe('2001:db8:abcd::/48');
    expect(networkOf('2001:db8:abcd:1234::1', 24, 52)).toBe('2001:db8:abcd:1000::/52');
    expect(networkOf('2001:db8::1', 24, 128)).toBe('2001:db8::1/128');
    expect(networkOf('2001:db8::1', 24, 0)).toBe('::/0');
    expect(() => networkOf('10.1.2.3', 33)).toThrow(RangeError);
    expect(() => networkOf('10.1.2.3', 24, 129)).toThrow(RangeError);
    expect(() => networkOf('10.1.2.3', 1.5)).toThrow(RangeError);
  });

  it('returns undefined for anything that is not a plain address', () => {
    for (const bad of [
      '',
      'localhost',
      '10.1',
      '1',
      '0x0a.1.2.3',
      '10.1.2.3:8200',
      '10.1.2.256',
      '2001:db8::g',
      ':::',
      '[10.1.2.3',
      'a.b.c.d',
    ]) {
      expect(networkOf(bad), bad).toBeUndefined();
      expect(parseAddress(bad), bad).toBeUndefined();
    }
    expect(networkOf(undefined as never)).toBeUndefined();
  });

  it('every address in a /24 maps to the same key, and only those (property)', () => {
    fc.assert(
      fc.property(fc.ipV4(), fc.nat(255), (ip, last) => {
        const key = networkOf(ip);
        const sibling = ip.split('.').slice(0, 3).concat(String(last)).join('.');
        expect(key).toBe(networkOf(sibling));
        expect(key?.endsWith('.0/24')).toBe(true);
        expect(networkOf(`::ffff:${ip}`)).toBe(key);
      }),
    );
    // Text forms with an embedded IPv4 (::a.b.c.d) are read by ipaddr.js as IPv4-mapped, hence IPv4 keys.
    fc.assert(
      fc.property(fc.ipV6(), (ip) => {
        fc.pre(!ip.includes('.'));
        const key = networkOf(ip);
        expect(key).toMatch(/\/64$/);
        // Idempotent: the network address of the key maps to itself.
        expect(networkOf((key ?? '').replace(/\/64$/, ''))).toBe(key);
      }),
    );
  });
});

describe('isPrivate', () => {
  it('classifies RFC 1918, loopback, link-local, CGNAT and ULA as private', () => {
    for (const a of [
      '10.0.0.1',
      '172.16.5.4',
      '172.31.255.255',
      '192.168.1.1',
      '127.0.0.1',
      '169.254.10.10',
      '100.64.0.1',
      '100.127.255.254',
      '::1',
      'fe80::1',
      'fd12:3456::1',
      'fc00::1',
      '::ffff:192.168.0.1',
    ]) {
      expect(isPrivate(a), a).toBe(true);
    }
    for (const a of [
      '8.8.8.8',
      '172.32.0.1',
      '100.128.0.1',
      '192.169.0.1',
      '2001:4860:4860::8888',
      '::ffff:8.8.8.8',
      'garbage',
      '',
    ]) {
      expect(isPrivate(a), a).toBe(false);
    }
  });
});

describe('compileCidrs / inCidrs', () => {
  it('matches IPv4, IPv6 and mapped addresses against mixed lists', () => {
    const c = compileCidrs([
      '10.0.0.0/8',
      '192.168.1.0/24',
      '2001:db8::/32',
      '203.0.113.7',
      '::ffff:198.51.100.0/120',
      '0.0.0.0/0 ',
    ]);
    expect(c.ranges).toEqual([
      '10.0.0.0/8',
      '192.168.1.0/24',
      '2001:db8::/32',
      '203.0.113.7/32',
      '198.51.100.0/24',
      '0.0.0.0/0',
    ]);
    const noDefault = compileCidrs(c.ranges.slice(0, 5));
    expect(inCidrs('10.200.3.4', noDefault)).toBe(true);
    expect(inCidrs('11.0.0.1', noDefault)).toBe(false);
    expect(inCidrs('192.168.1.255', noDefault)).toBe(true);
    expect(inCidrs('192.168.2.1', noDefault)).toBe(false);
    expect(inCidrs('203.0.113.7', noDefault)).toBe(true);
    expect(inCidrs('203.0.113.8', noDefault)).toBe(false);
    expect(inCidrs('::ffff:10.1.1.1', noDefault)).toBe(true);
    expect(inCidrs('198.51.100.42', noDefault)).toBe(true);
    expect(inCidrs('2001:db8:ffff::1', noDefault)).toBe(true);
    expect(inCidrs('2001:db9::1', noDefault)).toBe(false);
    expect(inCidrs('not-an-ip', noDefault)).toBe(false);
    expect(inCidrs('1.2.3.4', c)).toBe(true); // 0.0.0.0/0
    expect(inCidrs('2001:db9::1', c)).toBe(false); // IPv4 default does not cover IPv6
  });

  it('masks host bits and handles /0, /1, /31, /127', () => {
    const c = compileCidrs(['10.1.2.3/8', '128.0.0.0/1', '2001:db8::2/127', '::/0']);
    expect(c.ranges).toEqual(['10.0.0.0/8', '128.0.0.0/1', '2001:db8::2/127', '::/0']);
    expect(inCidrs('200.1.1.1', c)).toBe(true);
    expect(inCidrs('127.255.255.255', c)).toBe(false);
    expect(inCidrs('::1', c)).toBe(true);
    const narrow = compileCidrs(['192.0.2.2/31', '2001:db8::2/127']);
    expect(inCidrs('192.0.2.2', narrow)).toBe(true);
    expect(inCidrs('192.0.2.3', narrow)).toBe(true);
    expect(inCidrs('192.0.2.4', narrow)).toBe(false);
    expect(inCidrs('192.0.2.1', narrow)).toBe(false);
    expect(inCidrs('2001:db8::3', narrow)).toBe(true);
    expect(inCidrs('2001:db8::4', narrow)).toBe(false);
  });

  it('agrees with ipaddr-style prefix arithmetic (property)', () => {
    fc.assert(
      fc.property(fc.ipV4(), fc.ipV4(), fc.integer({ min: 0, max: 32 }), (net, ip, len) => {
        const c = compileCidrs([`${net}/${len}`]);
        const toInt = (s: string) => s.split('.').reduce((a, o) => a * 256 + Number(o), 0);
        const mask = len === 0 ? 0 : 2 ** 32 - 2 ** (32 - len);
        const same = Math.floor(toInt(net) / 2 ** (32 - len)) === Math.floor(toInt(ip) / 2 ** (32 - len));
        expect(inCidrs(ip, c)).toBe(same);
        expect(mask).toBeGreaterThanOrEqual(0);
      }),
    );
  });

  it('throws a clear error naming the bad entry', () => {
    expect(() => compileCidrs(['10.0.0.0/8', '10.0.0.0/33'])).toThrow(
      /invalid CIDR "10.0.0.0\/33" \(entry 1\): the prefix length must be 0..32/,
    );
    expect(() => compileCidrs(['2001:db8::/129'])).toThrow(/0..128/);
    expect(() => compileCidrs(['10.0.0/8'])).toThrow(/entry 0.*not an IPv4/);
    expect(() => compileCidrs(['10.0.0.0/abc'])).toThrow(/decimal number/);
    expect(() => compileCidrs(['10.0.0.0/'])).toThrow(/decimal number/);
    expect(() => compileCidrs(['fe80::/10%eth0'])).toThrow(/entry 0/);
    expect(() => compileCidrs(['fe80::%eth0/10'])).toThrow(/zone/);
    expect(() => compileCidrs(['::ffff:10.0.0.0/90'])).toThrow(/≥ 96/);
    expect(() => compileCidrs([42 as never])).toThrow(/not a string/);
    expect(() => compileCidrs('10.0.0.0/8' as never)).toThrow(/array/);
    expect(compileCidrs([]).ranges).toEqual([]);
  });
});
