/*
 * devnet.c: the Linux backend. Each link is a network interface reached
 * through an AF_PACKET socket with PACKET_VNET_HDR, so TCP super-frames
 * (GSO) and checksum-offloaded frames from veth cross moat whole, their
 * offload state carried in the descriptor (packet(7): PACKET_VNET_HDR
 * puts a struct virtio_net_hdr before every frame).
 */
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/virtio_net.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "log.h"
#include "nb.h"
#include "pkt.h"
#include "util.h"

#define MAX_LINKS	65
#define RX_BATCH	32

struct devlink {
	int		 fd;
	uint16_t	 port;
	char		 ifname[IFNAME_MAX];
	uint8_t		 mac[6];
	uint32_t	 ip;
	uint8_t		 ip6[16];
	uint32_t	 mtu;
	uint64_t	 rx_trunc, rx_nobuf, rx_badhdr, tx_err;
};

static struct devlink links[MAX_LINKS];
static int nlinks;
static struct devlink *by_port[MQ_PORT_MAX];

static int
devnet_add_link(struct nb *nb, const struct msg_devnet_link *l)
{
	struct devlink *dl;
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL) };
	struct ifreq ifr;
	int one = 1, rcvbuf = 8 << 20, fd;
	char junk[64];

	(void)nb;
	if (nlinks == MAX_LINKS || l->port >= MQ_PORT_MAX || by_port[l->port]) {
		log_warnx("%s: too many links or port %u reused", l->ifname, l->port);
		return -1;
	}
	dl = &links[nlinks];
	memset(dl, 0, sizeof *dl);
	strlcpy_(dl->ifname, l->ifname, sizeof dl->ifname);
	dl->port = l->port;
	dl->ip = l->client_ip;
	memcpy(dl->ip6, l->client_ip6, sizeof dl->ip6);
	if ((sll.sll_ifindex = (int)if_nametoindex(dl->ifname)) == 0) {
		log_warn("%s: no such interface", dl->ifname);
		return -1;
	}
	fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, htons(ETH_P_ALL));
	if (fd < 0) {
		log_warn("%s: AF_PACKET socket (are we root?)", dl->ifname);
		return -1;
	}
	memset(&ifr, 0, sizeof ifr);
	strlcpy_(ifr.ifr_name, dl->ifname, sizeof ifr.ifr_name);
	if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0 || ifr.ifr_hwaddr.sa_family != 1 /* ARPHRD_ETHER */) {
		log_warnx("%s: not an Ethernet interface", dl->ifname);
		goto fail;
	}
	memcpy(dl->mac, ifr.ifr_hwaddr.sa_data, 6);
	if (ioctl(fd, SIOCGIFMTU, &ifr) < 0)
		goto fail;
	dl->mtu = (uint32_t)ifr.ifr_mtu;
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) == 0 && !(ifr.ifr_flags & IFF_UP))
		log_warnx("%s is down: bring it up (ip link set %s up)", dl->ifname, dl->ifname);
	/* The offload state of each frame comes with it, and our own
	 * transmissions are not fed back to us. */
	if (setsockopt(fd, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof one) < 0 ||
	    setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one) < 0) {
		log_warn("%s: packet socket options", dl->ifname);
		goto fail;
	}
	/* Room for bursts of super-frames (the default holds about three). */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
	if (bind(fd, (struct sockaddr *)&sll, sizeof sll) < 0) {
		log_warn("%s: bind", dl->ifname);
		goto fail;
	}
	/* Frames of other interfaces may have queued before bind(). */
	while (recv(fd, junk, sizeof junk, MSG_DONTWAIT | MSG_TRUNC) >= 0)
		;
	dl->fd = fd;
	by_port[dl->port] = dl;
	nlinks++;
	return 0;
fail:
	close(fd);
	return -1;
}

static void
devnet_rx(struct nb *nb, void *arg)
{
	struct devlink *dl = arg;
	struct virtio_net_hdr vh[RX_BATCH];
	struct mmsghdr mm[RX_BATCH];
	struct iovec iov[RX_BATCH][2];
	uint32_t bufs[RX_BATCH];
	int n, i, want, rounds = 0;

	do {
		for (want = 0; want < RX_BATCH; want++) {
			if (nb_buf_alloc(nb, &bufs[want]) < 0)
				break;
			iov[want][0] = (struct iovec){ &vh[want], sizeof vh[want] };
			iov[want][1] = (struct iovec){ nb_buf(nb, bufs[want]), nb_buf_size(nb) };
			memset(&mm[want], 0, sizeof mm[want]);
			mm[want].msg_hdr.msg_iov = iov[want];
			mm[want].msg_hdr.msg_iovlen = 2;
		}
		if (want == 0) {
			/* No buffer free: drain one frame so the socket does
			 * not keep us spinning, and count the loss. */
			char junk[64];
			if (recv(dl->fd, junk, sizeof junk, MSG_DONTWAIT | MSG_TRUNC) >= 0)
				dl->rx_nobuf++;
			return;
		}
		n = recvmmsg(dl->fd, mm, (unsigned)want, MSG_DONTWAIT, NULL);
		if (n < 0)
			n = 0;
		for (i = 0; i < n; i++) {
			struct mq_desc d = { .buf = bufs[i], .port = dl->port };
			size_t got = mm[i].msg_len;

			if ((mm[i].msg_hdr.msg_flags & MSG_TRUNC) || got < sizeof vh[i] + ETH_HLEN_) {
				dl->rx_trunc++;
				log_rlk(dl->port, LOG_LVL_WARN, "%s: frame truncated or short (%zu bytes): dropped",
				    dl->ifname, got);
				nb_buf_free(nb, bufs[i]);
				continue;
			}
			d.len = (uint32_t)(got - sizeof vh[i]);
			if (vh[i].flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
				d.flags |= MQ_F_NEEDS_CSUM;
				d.csum_start = vh[i].csum_start;
				d.csum_offset = vh[i].csum_offset;
			} else if (vh[i].flags & VIRTIO_NET_HDR_F_DATA_VALID)
				d.flags |= MQ_F_CSUM_VALID;
			switch (vh[i].gso_type & ~VIRTIO_NET_HDR_GSO_ECN) {
			case VIRTIO_NET_HDR_GSO_NONE:
				break;
			case VIRTIO_NET_HDR_GSO_TCPV4:
				d.gso_type = MQ_GSO_TCPV4;
				d.gso_size = vh[i].gso_size;
				break;
			case VIRTIO_NET_HDR_GSO_TCPV6:
				d.gso_type = MQ_GSO_TCPV6;
				d.gso_size = vh[i].gso_size;
				break;
			default:
				d.gso_type = 0xff;	/* refused below */
			}
			/* An ECN flow's CWR super-frame: kept, so that devnet
			 * can ask the kernel for the same on the way out. */
			if ((vh[i].gso_type & VIRTIO_NET_HDR_GSO_ECN) && d.gso_type != 0xff &&
			    d.gso_type != MQ_GSO_NONE)
				d.flags |= MQ_F_GSO_ECN;
			/* The kernel filled these, but natd will check them
			 * again: the same rule as for any descriptor. */
			if (d.gso_type == 0xff || (d.gso_type && d.gso_size == 0) ||
			    ((vh[i].gso_type & VIRTIO_NET_HDR_GSO_ECN) && d.gso_type == MQ_GSO_NONE)) {
				dl->rx_badhdr++;
				log_rlk(dl->port, LOG_LVL_WARN, "%s: virtio header gso_type %#x gso_size %u "
				    "refused (%llu so far)", dl->ifname, vh[i].gso_type, vh[i].gso_size,
				    (unsigned long long)dl->rx_badhdr);
				nb_buf_free(nb, bufs[i]);
				continue;
			}
			nb_rx(nb, &d);
		}
		for (i = n; i < want; i++)
			nb_buf_free(nb, bufs[i]);
	} while (n == RX_BATCH && ++rounds < 4);	/* bounded: other links get their turn */
}

static void
devnet_tx(struct nb *nb, const struct mq_desc *d)
{
	struct devlink *dl = d->port < MQ_PORT_MAX ? by_port[d->port] : NULL;
	struct virtio_net_hdr vh = { 0 };
	struct iovec iov[2];
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 2 };

	if (dl == NULL) {
		nb_buf_free(nb, d->buf);
		return;
	}
	if (d->flags & MQ_F_NEEDS_CSUM) {
		vh.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
		vh.csum_start = d->csum_start;
		vh.csum_offset = d->csum_offset;
	}
	switch (d->gso_type) {
	case MQ_GSO_TCPV4:
		vh.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
		break;
	case MQ_GSO_TCPV6:
		vh.gso_type = VIRTIO_NET_HDR_GSO_TCPV6;
		break;
	}
	if (vh.gso_type) {
		/* The sender's GSO_ECN again: a device whose TSO cannot
		 * keep CWR to the first segment (no TSO_ECN) then makes
		 * the kernel segment in software, as for the sender. */
		if (d->flags & MQ_F_GSO_ECN)
			vh.gso_type |= VIRTIO_NET_HDR_GSO_ECN;
		vh.gso_size = d->gso_size;
		vh.hdr_len = (uint16_t)(d->csum_start + d->csum_offset + 2);
	}
	iov[0] = (struct iovec){ &vh, sizeof vh };
	iov[1] = (struct iovec){ nb_buf(nb, d->buf) + d->off, d->len };
	if (sendmsg(dl->fd, &mh, MSG_DONTWAIT) < 0) {
		dl->tx_err++;
		log_rlk(dl->port, LOG_LVL_WARN, "%s: send of %u bytes failed: %s (%llu so far)",
		    dl->ifname, d->len, strerror(errno), (unsigned long long)dl->tx_err);
	}
	nb_buf_free(nb, d->buf);
}

static int
devnet_open(struct nb *nb)
{
	for (int i = 0; i < nlinks; i++) {
		struct devlink *dl = &links[i];
		struct msg_link ml = {
			.port = dl->port, .up = 1,
			.kind = dl->port == MQ_PORT_UPLINK ? LINK_UPLINK : LINK_CLIENT,
			.ip4 = dl->ip, .mtu = dl->mtu,
		};

		memcpy(ml.our_mac, dl->mac, 6);
		memcpy(ml.ip6, dl->ip6, sizeof ml.ip6);
		strlcpy_(ml.name, dl->ifname, sizeof ml.name);
		if (nb_watch(nb, dl->fd, devnet_rx, dl) < 0)
			return -1;
		nb_link_up(nb, &ml);
	}
	return 0;
}

const struct nb_backend nb_backend_devnet = {
	.name = "devnet",
	.open = devnet_open,
	.add_link = devnet_add_link,
	.tx = devnet_tx,
	/* devnet_tx reads by_port and the link's fd, both fixed before
	 * MSG_START, and writes only tx_err */
	.tx_thread = 1,
	.sc_mode = NB_SC_DEVNET,
};

/* No devices at all: the daemons run, nothing moves (tests, the VM boot test). */
const struct nb_backend nb_backend_none = {
	.name = "none",
};
