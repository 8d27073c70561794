"""What the generator knows about the clients and links it writes, for the site-level ground truth.

The generator chose every user agent and referrer (demo/traffic.py), so it can say what they
are: a browser's family and operating system, a crawler's name, a referrer's source class,
and which landing links carry UTM campaign tags. demo/site_truth.py expects footfall to find
the same (in the names ua-parser, footfall's crawler list and its referrer lists use), without
asking footfall.
"""

from __future__ import annotations

from urllib.parse import urlsplit

# User agent of demo.traffic.BROWSERS -> (browser family, OS family), in ua-parser's names.
BROWSER_FAMILIES: dict[str, tuple[str, str]] = {
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/129.0.0.0 "
    "Safari/537.36": ("Chrome", "Windows"),
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/129.0.0.0 "
    "Safari/537.36 Edg/129.0.0.0": ("Edge", "Windows"),
    "Mozilla/5.0 (X11; Linux x86_64; rv:131.0) Gecko/20100101 Firefox/131.0": ("Firefox", "Linux"),
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.0 "
    "Safari/605.1.15": ("Safari", "Mac OS X"),
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 "
    "Safari/537.36": ("Chrome", "Mac OS X"),
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.0 "
    "Mobile/15E148 Safari/604.1": ("Mobile Safari", "iOS"),
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/129.0.6668.100 Mobile "
    "Safari/537.36": ("Chrome Mobile", "Android"),
    "Mozilla/5.0 (Linux; Android 14; SM-S921B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/26.0 "
    "Chrome/122.0.0.0 Mobile Safari/537.36": ("Samsung Internet", "Android"),
    "Mozilla/5.0 (iPad; CPU OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 "
    "Mobile/15E148 Safari/604.1": ("Mobile Safari", "iOS"),
    "Mozilla/5.0 (Linux; Android 13; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/129.0.0.0 "
    "Safari/537.36": ("Chrome", "Android"),
}

# Non-human user agent of demo.traffic -> its crawler name.
CRAWLER_NAMES: dict[str, str] = {
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)": "Googlebot",
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; Googlebot/2.1; +http://www.google.com/bot.html) "
    "Chrome/129.0.6668.89 Safari/537.36": "Googlebot",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)": "bingbot",
    "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)": "YandexBot",
    "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)": "AhrefsBot",
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)": "FacebookBot",
    "DuckDuckBot/1.1; (+http://duckduckgo.com/duckduckbot.html)": "DuckDuckBot",
    "curl/8.5.0": "curl",
    "python-requests/2.32.3": "python-requests",
    "kube-probe/1.30": "kube-probe",
    "Mozilla/5.0+(compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)": "UptimeRobot",
}

# Referrer domain (www. removed) of demo.traffic.ENTRY_REFERRERS -> its class: search engines
# and social networks. The site's own host is internal; no referrer is direct; anything else
# (an android-app:// referrer has no http host) is other.
REFERRER_CLASSES: dict[str, str] = {
    "google.com": "search",
    "google.ca": "search",
    "duckduckgo.com": "search",
    "reddit.com": "social",
    "m.facebook.com": "social",
    "news.ycombinator.com": "social",
}

# Links that bring visitors with campaign tags: the entry referrer -> the UTM query its landing
# page carries (a shared post on Facebook, the newsletter opened in the Gmail app).
UTM_TAGS: dict[str, str] = {
    "https://m.facebook.com/": "utm_source=facebook&utm_medium=social&utm_campaign=fall-meetups",
    "android-app://com.google.android.gm/": "utm_source=newsletter&utm_medium=email&utm_campaign=october-digest",
}


def tag_landing(target: str, referrer: str | None) -> str:
    """The landing page's request target with the UTM tags its referrer's link carries."""
    tags = UTM_TAGS.get(referrer or "")
    if tags is None:
        return target
    return f"{target}{'&' if urlsplit(target).query else '?'}{tags}"
