/**
 * A small Perl program for raw IP packets, run by the namespace agent (agent.ts) inside a pod or
 * node namespace. Node.js has no raw sockets and this kernel has no SCTP stack (CONFIG_IP_SCTP is
 * off), so SCTP probes and ICMP probes of arbitrary type/code are raw packets:
 *
 *   send: one line on stdin  "send <family> <proto> <src|-> <dst> <sport> <dport> <type> <code> <nonce>"
 *         SCTP: a valid INIT chunk (verification tag 0, CRC32c), initiate tag = nonce, so conntrack
 *               sees a valid new SCTP association;
 *         ICMP/ICMPv6: the given type/code, identifier = nonce & 0xffff, payload "TRTP" + nonce.
 *   recv: raw sockets for SCTP (v4, v6), ICMP and ICMPv6; every packet carrying one of our nonces
 *         is printed as one JSON line {"seen":nonce,"proto":p,"family":f,"src":"…","dport":d,
 *         "type":t,"code":c}. Packets that are not ours (ND, pings) are ignored.
 *
 * perl-base (Socket with IPv6) is Essential in Debian, so this needs nothing installed.
 */
export const RAW_HELPER_PERL = String.raw`
use strict; use warnings;
use Socket qw(AF_INET AF_INET6 SOCK_RAW inet_pton inet_ntop pack_sockaddr_in pack_sockaddr_in6 unpack_sockaddr_in6 unpack_sockaddr_in);
use IO::Select;
$| = 1;
my @crc;
for my $i (0..255) { my $c = $i; for (1..8) { $c = ($c & 1) ? (($c >> 1) ^ 0x82F63B78) : ($c >> 1); } $crc[$i] = $c; }
sub crc32c { my ($d) = @_; my $c = 0xFFFFFFFF; for my $b (unpack("C*", $d)) { $c = $crc[($c ^ $b) & 0xFF] ^ ($c >> 8); } return ($c ^ 0xFFFFFFFF) & 0xFFFFFFFF; }
sub csum { my ($d) = @_; $d .= "\0" if length($d) % 2; my $s = 0; $s += $_ for unpack("n*", $d); $s = ($s >> 16) + ($s & 0xFFFF) while $s >> 16; return (~$s) & 0xFFFF; }
my %rx;
sub rxsock { my ($fam, $proto) = @_; my $s; socket($s, $fam == 4 ? AF_INET : AF_INET6, SOCK_RAW, $proto) or return; $rx{fileno($s)} = [$s, $fam, $proto]; }
rxsock(4, 132); rxsock(6, 132); rxsock(4, 1); rxsock(6, 58);
my $sel = IO::Select->new(\*STDIN, map { $_->[0] } values %rx);
sub report { my (%h) = @_; print "{" . join(",", map { my $v = $h{$_}; "\"$_\":" . ($v =~ /^-?\d+$/ ? $v : "\"$v\"") } sort keys %h) . "}\n"; }
sub handle_rx {
  my ($s, $fam, $proto) = @_;
  my $buf = ""; my $from = recv($s, $buf, 65535, 0); return unless defined $from;
  my ($src, $p) = ("", $buf);
  if ($fam == 4) { my $ihl = (unpack("C", $buf) & 0x0F) * 4; $src = inet_ntop(AF_INET, substr($buf, 12, 4)); $p = substr($buf, $ihl); }
  else { my ($port, $a) = unpack_sockaddr_in6($from); $src = inet_ntop(AF_INET6, $a); }
  if ($proto == 132) {
    return if length($p) < 32;
    my ($sp, $dp, $vtag, $ck, $ctype, $cflags, $clen, $itag) = unpack("n n N N C C n N", $p);
    return unless $ctype == 1;
    report(seen => $itag, proto => 132, family => $fam, src => $src, sport => $sp, dport => $dp);
  } else {
    return if length($p) < 16;
    my ($t, $c, $ck, $id, $seq, $magic, $nonce) = unpack("C C n n n a4 N", $p);
    return unless $magic eq "TRTP";
    report(seen => $nonce, proto => $proto, family => $fam, src => $src, type => $t, code => $c);
  }
}
sub do_send {
  my ($fam, $proto, $src, $dst, $sport, $dport, $type, $code, $nonce) = @_;
  my $af = $fam == 4 ? AF_INET : AF_INET6;
  my $s; socket($s, $af, SOCK_RAW, $proto) or do { report(error => "socket: $!", nonce => $nonce); return; };
  if ($src ne "-") { my $sa = $fam == 4 ? pack_sockaddr_in(0, inet_pton(AF_INET, $src)) : pack_sockaddr_in6(0, inet_pton(AF_INET6, $src)); bind($s, $sa) or do { report(error => "bind: $!", nonce => $nonce); return; }; }
  my $pkt;
  if ($proto == 132) {
    my $init = pack("C C n N N n n N", 1, 0, 20, $nonce, 65535, 1, 1, $nonce);
    my $hdr = pack("n n N N", $sport, $dport, 0, 0);
    my $c = crc32c($hdr . $init);
    $pkt = pack("n n N", $sport, $dport, 0) . pack("V", $c) . $init;
  } else {
    my $body = pack("n n a4 N", $nonce & 0xFFFF, 1, "TRTP", $nonce);
    $pkt = pack("C C n", $type, $code, 0) . $body;
    if ($fam == 4) { $pkt = pack("C C n", $type, $code, csum($pkt)) . $body; }
  }
  my $to = $fam == 4 ? pack_sockaddr_in(0, inet_pton(AF_INET, $dst)) : pack_sockaddr_in6(0, inet_pton(AF_INET6, $dst));
  if (defined send($s, $pkt, 0, $to)) { report(sent => $nonce); } else { report(error => "send: $!", nonce => $nonce); }
  close($s);
}
my $inbuf = "";
while (1) {
  for my $fh ($sel->can_read()) {
    if ($fh == \*STDIN) {
      # sysread, not <STDIN>: buffered reads would hide queued lines from select().
      my $n = sysread(STDIN, my $chunk, 65536); exit 0 unless $n;
      $inbuf .= $chunk;
      while ($inbuf =~ s/^([^\n]*)\n//) {
        my @a = split / /, $1;
        do_send(@a[1..9]) if @a == 10 && $a[0] eq "send";
      }
    } else { handle_rx(@{ $rx{fileno($fh)} }); }
  }
}
`;
